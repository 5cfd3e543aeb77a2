"""The console's actions that suit the command line: ``flask exams reset`` and ``flask audit export``,
on the same services as the pages."""

import contextlib
from pathlib import Path

import click
from flask.cli import AppGroup

from ..accounts import services as accounts
from ..accounts.identifiers import IdentifierError, mask_id_number, normalize_id_number
from ..core.errors import DomainError
from ..extensions import db
from ..learning import exam
from . import services

exams_cli = AppGroup("exams", help="结业测验（Exams）.")
audit_cli = AppGroup("audit", help="审计日志（The audit log）.")


def _fail(exc: DomainError):
    db.session.rollback()
    raise click.ClickException(exc.message)


def _account(login: str):
    user = accounts.find_by_login(login)
    if user is None:
        with contextlib.suppress(IdentifierError):  # never echo a full ID number
            login = mask_id_number(normalize_id_number(login))
        raise click.ClickException(f"找不到账号 {login}。")
    return user


@exams_cli.command("reset")
@click.argument("login")
@click.argument("course_code")
@click.option("--reason", required=True, help="原因（记入审计日志）")
def reset_exam(login, course_code, reason):
    """让学员重新获得某门课程的结业测验次数（已作答的记录保留，标记为已重置）。"""
    user = _account(login)
    try:
        enrollment = services.enrollment_of(user, course_code)
        n = exam.reset_attempts(None, enrollment, reason=accounts.clean_reason(reason))
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"已为 {user.real_name}（{user.id_number_masked}）重置课程 {enrollment.course_code} 的 {n} 次测验。")


@audit_cli.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出文件（.csv 或 .xlsx）")
@click.option("--who", default="", help="操作人：姓名、手机号、邮箱或 #编号")
@click.option("--action", default="", help="操作代码，如 user.disabled")
@click.option("--since", default="", help="开始日期，如 2026-01-01")
@click.option("--until", default="", help="结束日期（含当天）")
@click.option("--target-type", default="", help="对象类型，如 User")
@click.option("--target-id", default="", help="对象编号")
def export_audit(out, **filters):
    """按条件导出审计日志；导出本身也记入日志。"""
    fmt = out.suffix.lower().lstrip(".")
    try:
        chosen = services.parse_audit_filter(filters)
        rows = services.record_audit_export(None, chosen, fmt, via="cli")
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    if fmt == "csv":
        with out.open("wb") as fh:
            for chunk in services.iter_audit_csv(chosen):
                fh.write(chunk)
    else:
        services.write_audit_xlsx(chosen, str(out))
    click.echo(f"已导出 {rows} 条审计记录到 {out}。")
