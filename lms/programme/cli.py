"""``flask plan import``: a plan's target table from a CSV file, on the same service as the page.
``flask inspections list|show|verify|export``: random inspection plans, their check and their
published document (the same document and draw algorithm as the public page and scripts/verify_draw.py)."""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..core.errors import DomainError
from ..extensions import db
from . import draw as algorithm
from . import inspections, services
from .models import NATIONAL, InspectionPlan, InspectionPopulation, InspectionStatus

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


# ---------------------------------------------------------------- random inspections (双随机、一公开)

inspections_cli = AppGroup("inspections", help="随机抽查计划（Random inspections, 双随机、一公开）.")


def _plan(plan_id: int) -> InspectionPlan:
    plan = db.session.get(InspectionPlan, plan_id)
    if plan is None:
        raise click.ClickException(f"没有编号为 {plan_id} 的抽查计划。")
    return plan


def _when(value) -> str:
    return value.isoformat(sep=" ", timespec="minutes") if value else "—"


@inspections_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in InspectionStatus]), help="只列出这一状态的计划")
def list_plans(status):
    """列出抽查计划：编号、状态、范围、对象、年度、抽取数、名称。"""
    query = select(InspectionPlan).order_by(InspectionPlan.id)
    if status:
        query = query.where(InspectionPlan.status == status)
    plans = list(db.session.scalars(query))
    if not plans:
        click.echo("没有抽查计划。")
        return
    for plan in plans:
        click.echo(f"{plan.id}\t{plan.status}\t{plan.scope}\t{plan.population}\t{plan.year}\t"
                   f"{plan.target_count}×{plan.inspectors_per_target}\t{plan.title}")


@inspections_cli.command("show")
@click.argument("plan_id", type=int)
def show_plan(plan_id: int):
    """一项计划的详情：状态、范围、名单规模、承诺值、名单摘要、种子、抽取和检查结果。"""
    plan = _plan(plan_id)
    findings = [a for a in plan.assignments if a.result]
    lines = [
        f"计划 {plan.id}：{plan.title}",
        f"状态：{InspectionStatus(plan.status).label}（{plan.status}）",
        f"范围：{services.scope_label(plan.scope)}（{plan.scope}）",
        f"抽查对象：{InspectionPopulation(plan.population).label}（{plan.population}），{plan.year} 年度",
        f"抽取：{plan.target_count} 个对象，每个对象 {plan.inspectors_per_target} 名检查人员",
        f"名单：{inspections.population_size(plan)} 个对象，{len(plan.pool)} 名检查人员",
        f"承诺值：{plan.commitment or '—'}",
        f"名单摘要：{plan.population_sha256 or '—'}",
        f"种子：{plan.seed or '尚未公开'}",
        f"冻结：{_when(plan.frozen_at)}  最早公开种子：{_when(plan.reveal_after)}  抽取：{_when(plan.drawn_at)}  "
        f"结束：{_when(plan.closed_at)}",
        f"检查任务：{len(plan.assignments)} 项，已录入 {len(findings)} 项",
    ]
    if plan.status == InspectionStatus.CANCELLED:
        lines.append(f"已撤销：{_when(plan.cancelled_at)}，原因：{plan.cancel_reason}")
    click.echo("\n".join(lines))


@inspections_cli.command("verify")
@click.argument("plan_id", type=int)
def verify_plan(plan_id: int):
    """按公开数据重新计算抽取结果（与 scripts/verify_draw.py 相同）：名单摘要、种子与承诺值、抽取结果
    是否一致。一致时退出码为 0，不一致或种子尚未公开时为 1。"""
    plan = _plan(plan_id)
    if plan.frozen_at is None:
        raise click.ClickException("这项计划尚未冻结，没有公开数据可核验。")
    document = inspections.published_document(plan)
    digest = document.get("population_sha256")
    if digest and inspections.population_digest(document["population"], document["pool"]) != digest:
        click.echo("不一致：对象名单或检查人员名录与冻结时公布的摘要（population_sha256）不符。")
        sys.exit(1)
    click.echo(f"名单摘要一致：{len(document['population'])} 个对象，{len(document['pool'])} 名检查人员。")
    seed = document.get("seed")
    if not seed:
        click.echo(f"种子尚未公开：只有承诺值 {document['commitment']} 可查，还没有抽取结果可核验。")
        sys.exit(1)
    if algorithm.commitment(seed) != document["commitment"]:
        click.echo("不一致：种子的 SHA-256 与冻结时公布的承诺值不符。")
        sys.exit(1)
    recomputed = algorithm.draw_document(document)
    if recomputed != document.get("draw"):
        click.echo("不一致：按公开的名单和种子重新计算的抽取结果与公布的不同。")
        for row in recomputed:
            click.echo(f"  重新计算：{row['target']} — {'、'.join(row['inspectors']) or '（无）'}")
        sys.exit(1)
    click.echo(f"一致：种子与承诺值相符，重新计算的 {len(recomputed)} 个对象及其检查人员与公布的抽取结果相同。")


@inspections_cli.command("export")
@click.argument("plan_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_document(plan_id: int, file: Path):
    """把一项已冻结计划的公开数据（draw.json，与公开页面下载的相同）写入 FILE（“-”为标准输出），
    可交 scripts/verify_draw.py 核验。"""
    plan = _plan(plan_id)
    if plan.frozen_at is None:
        raise click.ClickException("这项计划尚未冻结，没有公开数据。")
    text = inspections.document_text(plan)
    if str(file) == "-":
        click.echo(text)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"已写出计划 {plan.id} 的公开数据：{file}（{len(text.encode('utf-8'))} 字节）。")
