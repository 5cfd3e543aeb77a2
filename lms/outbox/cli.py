"""``flask outbox …``: deliver, inspect and retry outgoing webhooks and xAPI statements."""

import click
from flask.cli import AppGroup

from ..extensions import db
from . import delivery

outbox_cli = AppGroup("outbox", help="待发消息（webhook 事件、xAPI 学习记录语句）Outbox.")

STATUS_LABELS = {"pending": "待发送", "delivered": "已送达", "failed": "已放弃（可重试）",
                 "undeliverable": "无法发送（订阅已删除、凭证已吊销或记录不在范围内）"}


@outbox_cli.command("deliver")
@click.option("--limit", default=1000, show_default=True, help="本次最多尝试发送的条数")
def deliver_command(limit: int):
    """立即发送所有到期的待发消息（与后台每分钟的巡检相同）。"""
    report = delivery.deliver_due(limit=limit)
    click.echo(f"已送达 {report.delivered} 条，稍后重试 {report.retrying} 条，已放弃 {report.failed} 条。")


@outbox_cli.command("status")
@click.option("--problems", default=20, show_default=True, help="列出最近出错的消息条数")
def status_command(problems: int):
    """各通道待发、已送达、已放弃的消息数，以及出错消息的原因。"""
    lines = delivery.status_summary()
    if not lines:
        click.echo("没有待发消息。")
        return
    for line in lines:
        oldest = f"，最早 {line.oldest:%Y-%m-%d %H:%M} UTC" if line.oldest and line.status != "delivered" else ""
        click.echo(f"{line.channel:<8} {STATUS_LABELS.get(line.status, line.status)}：{line.count} 条{oldest}")
    shown = delivery.problem_messages(problems)
    if shown:
        click.echo("\n出错的消息：")
    for m in shown:
        click.echo(f"  #{m.id} {m.channel} {m.event_type} {STATUS_LABELS.get(m.status, m.status)} "
                   f"已尝试 {m.attempts} 次，下次 {m.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC，"
                   f"HTTP {m.last_status or '-'}：{(m.last_error or '')[:200]}")


@outbox_cli.command("retry")
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="重试所有已放弃的消息")
def retry_command(message_ids: tuple[int, ...], all_failed: bool):
    """把指定消息（或所有已放弃的消息）重新置为待发送，尝试次数清零。"""
    if not message_ids and not all_failed:
        raise click.UsageError("请给出消息编号，或使用 --all-failed。")
    count = delivery.retry(list(message_ids), all_failed=all_failed)
    db.session.commit()
    click.echo(f"已重新排队 {count} 条消息；后台任务进程会在一分钟内发送，或运行 flask outbox deliver 立即发送。")
