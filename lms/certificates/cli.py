import click
from flask.cli import AppGroup

from .signing import active_key, all_keys, generate_key, key_dir
from .tasks import SWEEP_WINDOW, sweep

credentials_cli = AppGroup("credentials", help="证书电子凭证的签名密钥（Signing keys for credentials）.")
certificates_cli = AppGroup("certificates", help="课程证书（Course certificates）.")


@certificates_cli.command("sweep")
@click.option("--all", "whole_ledger", is_flag=True,
              help="检查整个学时账本（默认只查最近两天的完成记录）/ the whole ledger, not only the last two days.")
def sweep_command(whole_ledger):
    """签发任务丢失的课程证书（每分钟由后台任务自动执行；队列停过较长时间后可加 --all 手动补发）。"""
    def progress(issued, seen):
        click.echo(f"已检查 {seen} 条待签发记录，签发 {issued} 张证书……")

    issued = sweep(whole_ledger=whole_ledger, progress=progress if whole_ledger else None)
    scope = "整个学时账本" if whole_ledger else f"最近 {SWEEP_WINDOW.days} 天的完成记录"
    click.echo(f"已检查{scope}，补发证书 {issued} 张。")


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
