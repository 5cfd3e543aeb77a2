"""``flask export``: completion records to a file (the same service as the pages), and the sweep of
expired export files."""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from ..core.errors import DomainError
from ..extensions import db
from . import records, services

export_cli = AppGroup("export", help="导出学时记录（CSV / XLSX），清理过期的导出文件。")


def _fail(message: str) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(1)


@export_cli.command("credits")
@click.option("--year", "year_text", required=True, help="年度，如 2026")
@click.option("--unit", default=None, help="只导出此单位（统一社会信用代码）")
@click.option("--region", default=None, help="只导出此地区（6 位行政区划代码）")
@click.option("--format", "fmt", default=None, help="csv 或 xlsx（默认按 --out 的扩展名）")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出文件")
@click.option("--full-id-numbers", is_flag=True, help="导出完整身份证号（记入审计日志）")
def credits_command(year_text: str, unit: str | None, region: str | None, fmt: str | None, out: Path,
                    full_id_numbers: bool):
    """导出学时记录（有效记录，按单位或地区筛选）；操作记入审计日志。"""
    if unit and region:
        _fail("--unit 与 --region 只能指定其中一个。")
    if fmt is None:
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in services.FORMATS:
            _fail("请用 --format 指定导出格式（csv 或 xlsx），或让 --out 以 .csv / .xlsx 结尾。")
    if not out.parent.is_dir():
        _fail(f"输出文件夹 {out.parent} 不存在。")
    try:
        fmt = services.parse_format(fmt)
        year = services.parse_year(year_text)
        scope = records.narrow(records.Scope(full_id_numbers=full_id_numbers), unit=unit, region=region)
    except DomainError as exc:
        _fail(exc.message)

    show = sys.stdout.isatty()
    bar = None
    shown = 0

    def progress(done: int, total: int) -> None:
        nonlocal bar, shown
        if not show:
            return
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label=f"导出 {scope.label} {year} 年度")
            bar.__enter__()
        bar.update(done - shown)
        shown = done

    try:
        n = services.write_export(scope, year=year, fmt=fmt, out=out, progress=progress, actor=None, via="cli",
                                  commit=db.session.commit)
        if bar is not None:
            bar.update(bar.length - shown)  # full, also when there was nothing to export
    except BaseException:
        db.session.rollback()
        out.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(f"已导出 {n} 条学时记录（{scope.label}，{year} 年度{'，含完整身份证号' if full_id_numbers else ''}）到 {out}。")


@export_cli.command("purge")
def purge_command():
    """删除已过期的导出文件（可由定时任务每小时执行一次）。"""
    n = services.purge_expired()
    db.session.commit()
    click.echo(f"已删除 {n} 个过期的导出文件。")
