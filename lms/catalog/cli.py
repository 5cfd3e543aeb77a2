from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.identifiers import IdentifierError, mask_id_number, normalize_id_number
from ..accounts.models import Role
from ..accounts.services import find_by_login
from ..core.audit import record_event
from ..core.duties import ensure_not_involved
from ..core.errors import DomainError
from ..core.formatting import format_hours
from ..core.storage import remove_created
from ..extensions import db
from .models import Course
from .packages import PackageError
from .services import ImportResult, export_archive, import_archive, import_packages, load_packages

courses_cli = AppGroup("courses", help="课程包导入（Course packages）.")


@courses_cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--draft", is_flag=True, help="导入为草稿（默认直接发布）")
@click.option("--skip-existing", is_flag=True, help="跳过已存在的课程编号（否则视为错误）")
@click.option("--approved-by", "approved_by", metavar="LOGIN",
              help="直接发布时必填：审核通过这些课程的课程审核员或平台管理员的登录名（手机号、身份证号或邮箱），"
                   "记为审核人；他不能参与过这些课程的编写")
def import_command(paths, draft, skip_existing, approved_by=None):
    """校验并导入课程包；任何错误都不会导入任何内容。PATHS 可为课程包或包含课程包的文件夹。

    导入的课程默认直接发布：命令行导入没有具体的编写人，因此须用 --approved-by 指明审核通过的审核员
    （职责分离，见 lms/core/duties.py）；用 --draft 导入为草稿，则在网页上走提交、审核流程。"""
    approver = None if draft else _approver(approved_by)
    created_files: list[Path] = []
    archives = [p for p in paths if p.suffix.lower() == ".zip"]
    folders = [p for p in paths if p.suffix.lower() != ".zip"]
    try:
        result = ImportResult(imported=[], skipped=[])
        if folders:
            packages = load_packages(folders)
            click.echo(f"已校验 {len(packages)} 个课程包，开始导入……")
            result = import_packages(None, packages, publish=not draft, skip_existing=skip_existing,
                                     created_files=created_files, progress=lambda msg: click.echo(f"  视频：{msg}"))
        for archive in archives:
            more = import_archive(None, archive, publish=not draft, created_files=created_files,
                                  max_bytes=current_app.config["LMS_PACKAGE_MAX_MB"] * 1024 * 1024)
            result.imported.extend(more.imported)
        for course in result.imported if approver is not None else ():
            _approve(approver, course)
        db.session.commit()
    except PackageError as exc:
        db.session.rollback()
        _remove(created_files)
        raise click.ClickException("课程包有误，未导入任何内容：\n" + "\n".join(f"  {p}" for p in exc.problems)) from None
    except DomainError as exc:
        db.session.rollback()
        _remove(created_files)
        raise click.ClickException(f"未导入任何内容：{exc.message}") from None
    except BaseException:
        db.session.rollback()
        _remove(created_files)
        raise
    for course in result.imported:
        click.echo(f"已导入 {course.code}《{course.title}》{format_hours(course.credit_hours)} 学时，{len(course.lessons)} 个课时"
                   + (f"，审核人：{approver.real_name}" if approver is not None else "（草稿）"))
    for code in result.skipped:
        click.echo(f"已存在，跳过 {code}")


def _approver(login: str | None):
    """The reviewer named by ``--approved-by``: an active account holding the reviewer or admin role."""
    if not login:
        raise click.ClickException("直接发布的导入须指明审核人：加 --approved-by <课程审核员的手机号、身份证号或邮箱>；"
                                   "或加 --draft 导入为草稿，再在网页上提交审核。")
    user = find_by_login(login)
    if user is None:
        raise click.ClickException(f"找不到账号 {_masked(login)}，请核对 --approved-by 的登录名（手机号、身份证号或邮箱）。")
    if not user.is_active_account:
        raise click.ClickException(f"账号 {user.real_name} 已停用，不能作为审核人。")
    if not (user.has_role(Role.REVIEWER) or user.has_role(Role.ADMIN)):
        raise click.ClickException(f"{user.real_name} 不是课程审核员（或平台管理员），不能审核通过课程。"
                                   f"请用 flask users grant 授予 reviewer 角色，或指明另一位审核员。")
    return user


def _masked(login: str) -> str:
    try:
        return mask_id_number(normalize_id_number(login))
    except IdentifierError:
        return login


def _approve(approver, course: Course) -> None:
    """Record ``approver`` as the reviewer who approved an imported version, under the same rule as a
    review on the web: nobody who created it may approve it (an import has no creator)."""
    ensure_not_involved(approver, {course.created_by_id} - {None}, _("审核通过"),
                        subject=_("《%(title)s》第 %(version)s 版", title=course.title, version=course.version))
    course.approved_by_id = approver.id
    record_event(approver, "course.approved", course, code=course.code, version=course.version, via="import")


def _remove(created: list) -> None:
    remove_created(created)  # stored objects (keys) and local files (paths)


@courses_cli.command("export")
@click.argument("code")
@click.option("--version", "version", type=int, help="版本号（默认最新版本）")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出的 .zip 文件")
def export_command(code, version, out):
    """把一门课程导出为课程包（zip），可再用 courses import 导入。"""
    query = select(Course).where(Course.code == code.upper())
    query = query.where(Course.version == version) if version else query.order_by(Course.version.desc())
    course = db.session.scalar(query)
    if course is None:
        raise click.ClickException(f"课程 {code}{f' 第 {version} 版' if version else ''} 不存在。")
    export_archive(course, out)
    click.echo(f"已导出 {course.code} 第 {course.version} 版 → {out}")
