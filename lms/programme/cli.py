"""``flask plan import``: a plan's target table from a CSV file, on the same service as the page."""

from pathlib import Path

import click
from flask.cli import AppGroup

from ..core.errors import DomainError
from ..extensions import db
from . import services
from .models import NATIONAL

plan_cli = AppGroup("plan", help="知识更新工程计划（Programme plans）.")


@plan_cli.command("import")
@click.option("--year", required=True, help="计划年度，如 2022")
@click.option("--region", "region_code", default="", help="地区计划的地区代码（不给出为全国计划）")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_plan(year, region_code, file: Path):
    """导入（或替换）某年度的计划表：各行之和须等于小计、各列之和须等于合计（允许误差 0.05 万人）；
    任何一格有误则全部不导入，并指出有误的单元格。"""
    try:
        plan = services.import_plan(None, year, file.read_bytes(), scope=region_code.strip() or NATIONAL,
                                    source_name=file.name)
    except DomainError as exc:
        db.session.rollback()
        problems = getattr(exc, "problems", None)
        if problems:
            raise click.ClickException("计划表未导入：\n" + "\n".join(f"  - {p}" for p in problems)) from None
        raise click.ClickException(exc.message) from None
    db.session.commit()
    targets = sum(len(d.targets) for d in plan.departments)
    total = sum((d.subtotal for d in plan.departments), 0)
    click.echo(f"已导入 {plan.year} 年度{services.scope_label(plan.scope)}计划：{len(plan.departments)} 个部门，"
               f"{targets} 项目标，合计 {total} 万人。")
