"""``flask federation ...``: share courses, issue tokens, subscribe, pull — the same services as the
admin pages. Actions are recorded in the audit log under the admin named by ``--admin``."""

import contextlib

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..accounts import services as accounts
from ..accounts.identifiers import IdentifierError, mask_id_number, normalize_id_number
from ..core.errors import DomainError
from ..extensions import db
from . import services, subscriptions, tasks, transfers
from .models import FeedSubscription, SharedCourse

federation_cli = AppGroup("federation", help="课程共享与订阅（Courseware federation）.")
ADMIN_HELP = "以哪位平台管理员的名义操作（登录名：手机号、身份证号或邮箱），记入审计日志"


def _admin(login: str):
    user = accounts.find_by_login(login)
    if user is None:
        with contextlib.suppress(IdentifierError):  # never echo a full ID number
            login = mask_id_number(normalize_id_number(login))
        raise click.ClickException(f"找不到账号 {login}。")
    return user


def _run(action):
    try:
        value = action()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.message}（未做任何更改）") from None
    db.session.commit()
    return value


@federation_cli.command("share")
@click.argument("code")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def share_command(code, login):
    """把一门已发布的课程放入本平台的课程共享订阅源。"""
    share = _run(lambda: services.share_course(_admin(login), code))
    click.echo(f"已共享 {share.code}。订阅源：/federation/courses")


@federation_cli.command("unshare")
@click.argument("code")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def unshare_command(code, login):
    """停止共享一门课程（订阅方已导入的课程不受影响）。"""
    share = db.session.scalar(select(SharedCourse).where(SharedCourse.code == code.strip().upper()))
    if share is None:
        raise click.ClickException(f"课程 {code} 不在共享列表中。")
    _run(lambda: services.unshare_course(_admin(login), share.id))
    click.echo(f"已停止共享 {code.upper()}。")


@federation_cli.command("token")
@click.argument("name")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def token_command(name, login):
    """为订阅本平台的另一平台签发下载课程包的令牌（只显示这一次）。"""
    _token, secret = _run(lambda: services.issue_token(_admin(login), name))
    click.echo(f"订阅令牌（只显示这一次，请通过安全渠道交给对方管理员）：\n{secret}")


@federation_cli.command("subscribe")
@click.argument("url")
@click.option("--token", required=True, help="对方平台管理员签发的订阅令牌")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
@click.option("--publish", is_flag=True, help="导入的课程直接发布（默认存为草稿，审核后发布）")
@click.option("--fingerprint", help="对方签名密钥的指纹（key id），已与对方核对；不给出时显示指纹并请您确认")
def subscribe_command(url, token, login, publish, fingerprint):
    """订阅另一平台的课程共享（URL 为对方的 /federation/courses 地址），并立即拉取一次。"""
    admin = _admin(login)
    if not fingerprint:
        preview = _run(lambda: subscriptions.inspect_feed(url))
        if preview.trusted:
            click.echo(f"{preview.instance_name}（{preview.origin}）的密钥在信任列表中，无需确认指纹。")
        else:
            click.echo(f"平台：{preview.instance_name}（{preview.origin}）\n"
                       f"签名密钥指纹：{subscriptions.fingerprint_groups(preview.fingerprint)}")
            if not click.confirm("请与对方管理员核对此指纹。指纹一致，确认订阅？", default=False):
                raise click.ClickException("未订阅。")
            fingerprint = preview.fingerprint
    sub = _run(lambda: subscriptions.subscribe(admin, url, token=token, publish_at_once=publish,
                                               fingerprint=fingerprint))
    click.echo(f"已订阅 {sub.instance_name}（订阅编号 {sub.id}，导入后{'直接发布' if publish else '存为草稿'}）。")
    _report(tasks.pull_subscription(sub.id))


@federation_cli.command("pull")
@click.argument("subscription_id", type=int, required=False)
def pull_command(subscription_id):
    """立即拉取一个订阅（不给编号时拉取全部有效订阅）。"""
    ids = [subscription_id] if subscription_id else list(db.session.scalars(
        select(FeedSubscription.id).where(FeedSubscription.ended_at.is_(None)).order_by(FeedSubscription.id)))
    db.session.commit()
    if not ids:
        click.echo("没有有效的订阅。")
    for sub_id in ids:
        _report(tasks.pull_subscription(sub_id))


def _report(report) -> None:
    if report.error == "ended":
        raise click.ClickException(f"订阅 {report.subscription_id} 不存在或已取消。")
    click.echo(f"订阅 {report.subscription_id}：导入 {len(report.imported)} 门，拒绝 {len(report.rejected)} 条"
               + (f"，新确认密钥 {report.keys_pinned} 把" if report.keys_pinned else ""))
    for name in report.imported:
        click.echo(f"  已导入 {name}")
    for name, reason in report.rejected:
        click.echo(f"  已拒绝 {name}：{reason}")
    if report.error:
        click.echo(f"  拉取中断：{report.error}（下次拉取时从此处继续）")


@federation_cli.command("unsubscribe")
@click.argument("subscription_id", type=int)
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def unsubscribe_command(subscription_id, login):
    """取消订阅：不再拉取更新，已导入的课程保留。"""
    sub = _run(lambda: subscriptions.unsubscribe(_admin(login), subscription_id))
    click.echo(f"已取消订阅 {sub.instance_name}。")


@federation_cli.command("set-token")
@click.argument("subscription_id", type=int)
@click.option("--token", required=True, help="对方平台管理员新签发的订阅令牌")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def set_token_command(subscription_id, token, login):
    """更换一个订阅的订阅令牌（对方吊销了原令牌或原令牌遗失时）。"""
    sub = _run(lambda: subscriptions.replace_token(_admin(login), subscription_id, token))
    click.echo(f"已更换 {sub.instance_name} 的订阅令牌，下次拉取时使用。")


@federation_cli.command("build-archives")
def build_archives_command():
    """为共享课程新发布的版本生成课程包（后台任务每 5 分钟也会执行），生成后进入订阅源。"""
    built = tasks.build_archives()
    click.echo("已生成课程包：" + "、".join(built) if built else "没有需要生成的课程包。")


@federation_cli.command("status")
def status_command():
    """列出订阅及其拉取情况。"""
    for sub in subscriptions.subscriptions():
        progress = subscriptions.progress(sub)
        state = "有效" if sub.active else "已取消"
        click.echo(f"{sub.id}\t{state}\t{sub.instance_name}\t{sub.feed_url}\t导入 {progress.imported}\t拒绝 {progress.rejected}"
                   + (f"\t最近错误：{sub.last_error}" if sub.last_error else ""))


# ---------------------------------------------------------------- credit portability

@federation_cli.command("trust-issuer")
@click.argument("issuer_id")
@click.option("--name", required=True, help="发证平台名称（显示给学员和管理员）")
@click.option("--jwks-url", help="发证平台的公钥地址（默认为其站点的 /.well-known/jwks.json）")
@click.option("--keys-file", type=click.File("r", encoding="utf-8"), help="直接固定的公钥（JWK Set JSON 文件），不从网络读取")
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def trust_issuer_command(issuer_id, name, jwks_url, keys_file, login):
    """把一个发证平台加入信任列表（ISSUER_ID 为其凭证中 issuer.id 的网址），此后接受其签发的学时凭证。"""
    keys_json = keys_file.read() if keys_file else None
    issuer = _run(lambda: transfers.add_issuer(_admin(login), issuer_id, name, jwks_url=jwks_url, keys_json=keys_json))
    click.echo(f"已信任 {issuer.name}（{issuer.issuer_id}，编号 {issuer.id}）。已固定的密钥指纹：")
    for fingerprint in transfers.key_fingerprints(issuer):
        click.echo(f"  {fingerprint}")


@federation_cli.command("untrust-issuer")
@click.argument("issuer_number", type=int)
@click.option("--admin", "login", required=True, help=ADMIN_HELP)
def untrust_issuer_command(issuer_number, login):
    """把一个发证平台移出信任列表（已转入的学时保留）。"""
    issuer = _run(lambda: transfers.remove_issuer(_admin(login), issuer_number))
    click.echo(f"已将 {issuer.name} 移出信任列表。")


@federation_cli.command("issuers")
def issuers_command():
    """列出信任的发证平台。"""
    for issuer in transfers.issuers(include_removed=True):
        state = "信任中" if issuer.active else "已移出"
        click.echo(f"{issuer.id}\t{state}\t{issuer.name}\t{issuer.issuer_id}\t{issuer.jwks_url or '固定公钥'}"
                   f"\t密钥 {len(issuer.pinned_keys)} 把")


@federation_cli.command("recheck-transfers")
def recheck_transfers_command():
    """立即向发证平台复核到期的转入凭证（后台任务每小时也会执行）：已吊销的凭证使转入的学时作废。"""
    result = tasks.recheck_transfers()
    click.echo(f"复核 {result['checked']} 份，作废 {result['voided']} 份，暂时无法核实 {result['unavailable']} 份。")
