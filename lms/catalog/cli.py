from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..core.errors import DomainError
from ..core.formatting import format_hours
from ..extensions import db
from .models import Course
from .packages import PackageError
from .services import ImportResult, export_archive, import_archive, import_packages, load_packages

courses_cli = AppGroup("courses", help="课程包导入（Course packages）.")


@courses_cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--draft", is_flag=True, help="导入为草稿（默认直接发布）")
@click.option("--skip-existing", is_flag=True, help="跳过已存在的课程编号（否则视为错误）")
def import_command(paths, draft, skip_existing):
    """校验并导入课程包；任何错误都不会导入任何内容。PATHS 可为课程包或包含课程包的文件夹。"""
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
        click.echo(f"已导入 {course.code}《{course.title}》{format_hours(course.credit_hours)} 学时，{len(course.lessons)} 个课时")
    for code in result.skipped:
        click.echo(f"已存在，跳过 {code}")


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


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
