"""Application-level commands: ``flask setup``, ``flask demo`` and ``flask jobs worker``. They use
every domain, so they live above them all; each domain's own commands live in its ``cli.py``."""

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade

from . import backup
from .accounts import services as accounts
from .accounts.identifiers import credit_code_check_char, id_number_check_char
from .accounts.models import EmploymentStatus, OrgKind, Role
from .catalog.cli import import_command
from .catalog.services import ensure_subjects
from .core.jobs import QUEUES
from .credits.services import ensure_example_rule_sets, ensure_national_rule_set
from .extensions import db
from .programme.services import ensure_reference_plan


def ensure_reference_data() -> None:
    """Regions, subjects, rule sets and the 2022 national plan every installation starts with
    (idempotent; flushes)."""
    accounts.ensure_regions()
    ensure_subjects()
    ensure_national_rule_set()
    ensure_example_rule_sets()
    ensure_reference_plan()


@click.command("setup")
@with_appcontext
def setup_command():
    """升级数据库结构并写入基础数据（地区、科目主题、学时规则、2022 年度全国计划表）。可重复执行。"""
    upgrade(directory=str(Path(current_app.root_path).parent / "migrations"))
    ensure_reference_data()
    db.session.commit()
    click.echo("数据库已就绪。")


DEMO_EMPLOYER = ("示例科技有限公司", "91110105MA01ABCD1")
DEMO_PUBLISHER = "公需课程资源中心"
# (role, name, 17 digits of an ID number, mobile)
DEMO_ACCOUNTS = [
    ("learner", "演示学员", "11010519850312001", "13800000001"),
    ("publisher", "演示发布员", "11010519800101002", "13800000002"),
    ("reviewer", "演示审核员", "11010519820202003", "13800000003"),
    ("unit_admin", "演示单位管理员", "11010519790505004", "13800000004"),
    ("hr_auditor", "演示人社审核员", "11010519770707005", "13800000005"),
    ("admin", "演示管理员", "11010519750909006", "13800000006"),
    ("programme_office", "演示项目办", "11010519730303007", "13800000007"),  # national (no region)
]


def _confirm_demo_unit_admin() -> None:
    """The demo unit admin works for the unit they run: a confirmed member, not a learner waiting for
    their own decision on /unit (also mended in databases made by earlier runs)."""
    mobile = next(mobile for role, _name, _id17, mobile in DEMO_ACCOUNTS if role == "unit_admin")
    admin = accounts.find_by_login(mobile)
    if admin is not None and admin.employment_status == EmploymentStatus.PENDING:
        admin.employment_status = EmploymentStatus.APPROVED
    db.session.flush()


@click.command("demo")
@click.option("--courses", "courses_dir", default="courses", type=click.Path(path_type=Path),
              help="课程包所在文件夹")
@with_appcontext
def demo_command(courses_dir: Path):
    """创建演示账号、导入演示课程（记为演示审核员审核通过），并打印登录信息（可重复执行）。"""
    credentials_file = Path(current_app.instance_path) / "demo-accounts.txt"
    saved = {}
    if credentials_file.exists():
        for line in credentials_file.read_text(encoding="utf-8").splitlines():
            if line.count("\t") == 2:
                _label, login, password = line.split("\t")
                saved[login] = password
    name, code17 = DEMO_EMPLOYER
    employer_code = code17 + credit_code_check_char(code17)
    lines = []
    for role, real_name, id17, mobile in DEMO_ACCOUNTS:
        role = Role(role)
        # The database decides what exists; the file only remembers passwords it printed before.
        if accounts.find_by_login(mobile) is not None:
            lines.append(f"{role.label}\t{mobile}\t{saved.get(mobile, '（已存在，密码见首次输出）')}")
            continue
        password = "Gx" + secrets.token_hex(4) + "7"
        org = None
        if role == Role.PUBLISHER:
            org = accounts.get_or_create_organization(DEMO_PUBLISHER, OrgKind.PUBLISHER)
        user = accounts.create_person(None, accounts.PersonData(
            real_name=real_name, id_number=id17 + id_number_check_char(id17), password=password, mobile=mobile,
            region_code="110000", employer_name=name, employer_credit_code=employer_code), roles=(Role.LEARNER,))
        if role != Role.LEARNER:
            accounts.grant_role(None, user, role, organization=user.employer if role == Role.UNIT_ADMIN else org,
                                region_code="110000" if role == Role.HR_AUDITOR else None)
        lines.append(f"{role.label}\t{mobile}\t{password}")
    _confirm_demo_unit_admin()
    db.session.commit()
    fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")

    ctx = click.get_current_context()
    # Published at once, approved by the demo reviewer (named, as every publishing import must be;
    # the demo courses have no author on this platform, so the reviewer may approve them).
    reviewer_mobile = next(mobile for role, _name, _id17, mobile in DEMO_ACCOUNTS if role == "reviewer")
    ctx.invoke(import_command, paths=(courses_dir,), draft=False, skip_existing=True, approved_by=reviewer_mobile)

    click.echo("\n演示账号（登录名为手机号；也保存在 instance/demo-accounts.txt）：")
    for line in lines:
        role_label, login, password = line.split("\t")
        click.echo(f"  {role_label:<8}  账号 {login}  密码 {password}")


jobs_cli = AppGroup("jobs", help="后台任务（Background jobs）.")


@jobs_cli.command("worker")
@click.option("-q", "--queue", "queue_name", type=click.Choice(["default", "media"]), default="default",
              show_default=True, help="default：检索索引等短任务；media：视频转码")
@click.option("-w", "--workers", default=1, show_default=True,
              help="工作线程数；default 队列写检索索引，只允许一个写入者，保持 1")
def jobs_worker_command(queue_name: str, workers: int):
    """运行后台任务进程（huey consumer），与网站一同运行；Ctrl-C 停止。

    The same consumer as ``huey_consumer lms.worker.huey``, in the app this command built."""
    queue = QUEUES[queue_name]
    click.echo(f"后台任务进程已启动（队列 {queue_name}，{type(queue.storage).__name__}，{workers} 个线程）。")
    # An idle consumer backs off between polls; capped at 1 s so a new upload starts promptly.
    queue.create_consumer(workers=workers, worker_type="thread", max_delay=1.0).run()


backup_cli = AppGroup("backup", help="备份与恢复：数据库、存储对象、签名密钥和共享密钥（deploy/README.md）。")


@backup_cli.command("create")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--database-url", help="直连主库的地址（经 pgbouncer 时用；默认 DATABASE_URL）。")
@click.option("--without-secrets", is_flag=True, help="不写入 SECRET_KEY 和 LMS_DATA_KEY（密钥另行保管时）。")
def backup_create_command(target: Path, database_url: str | None, without_secrets: bool):
    """把本平台备份到新文件夹 TARGET。"""
    try:
        report = backup.create(target, database_url=database_url, with_secrets=not without_secrets)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("\n".join([f"已备份到 {target}：", *(f"  {line}" for line in report.lines)]))


@backup_cli.command("restore")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--database-url", help="直连主库的地址（经 pgbouncer 时用；默认 DATABASE_URL）。")
@click.option("--replace", is_flag=True, help="覆盖本平台已有的账号和学时记录。")
def backup_restore_command(source: Path, database_url: str | None, replace: bool):
    """从备份 SOURCE 恢复（先核对每个文件和密钥，有问题则不做任何更改）。"""
    try:
        report = backup.restore(source, database_url=database_url, replace=replace)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc) if exc.changed else f"{exc}（未做任何更改）") from None
    click.echo("\n".join([f"已从 {source} 恢复：", *(f"  {line}" for line in report.lines),
                          "请重启各应用节点和后台任务进程。"]))


@backup_cli.command("check")
@click.argument("numbers", nargs=-1, required=True)
def backup_check_command(numbers: tuple[str, ...]):
    """核对证书：编号可查、有效、PDF 与公布的哈希一致、签名凭证可用公布的密钥验证。"""
    problems = [problem for number in numbers for problem in backup.check_certificate(number)]
    db.session.commit()  # the lookups are audited like the public page's
    if problems:
        raise click.ClickException("\n".join(problems))
    click.echo(f"证书 {len(numbers)} 份均可验证。")
