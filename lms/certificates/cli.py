import click
from flask.cli import AppGroup

from .signing import active_key, all_keys, generate_key, key_dir

credentials_cli = AppGroup("credentials", help="证书电子凭证的签名密钥（Signing keys for credentials）.")


@credentials_cli.command("rotate-key")
def rotate_key_command():
    """生成新的 Ed25519 签名密钥并启用；旧密钥仍公布在 JWKS 中，已签发的凭证继续可验。"""
    kid = generate_key()
    click.echo(f"新签名密钥已启用：{kid}（保存在 {key_dir()}，权限 0600）")


@credentials_cli.command("keys")
def list_keys_command():
    """列出签名密钥（key id），标出正在使用的一把。"""
    active, _ = active_key()
    for kid in all_keys():
        click.echo(f"{'* ' if kid == active else '  '}{kid}")
