import time

import click
from flask import current_app
from flask.cli import AppGroup
from huey.exceptions import ResultTimeout
from sqlalchemy import select

from ..core.errors import DomainError
from ..core.jobs import huey
from ..extensions import db
from . import services, tasks
from .documents import published_documents
from .models import SearchTerm
from .terms import current_dictionary, delete_term, save_term

search_cli = AppGroup("search", help="全文检索索引（Search index）.")


@search_cli.command("rebuild")
@click.option("--inline", is_flag=True,
              help="在本进程内重建（仅在没有后台任务进程运行时使用，否则交给任务队列）")
@click.option("--timeout", default=600, show_default=True, help="等待任务进程完成的秒数")
def rebuild_command(inline: bool, timeout: int):
    """从数据库重建课程索引：在旁边的新目录中建好后原子切换，重建期间检索照常可用。"""
    start = time.monotonic()
    if inline:
        n = services.rebuild_index(published_documents(), progress=lambda k: click.echo(f"  已写入 {k} 门课程……"),
                                   dictionary=current_dictionary())
        tasks.rebuild_done()
    else:
        # Through the queue, so the rebuild and incremental updates never write at the same time.
        result = tasks.rebuild_index_job()
        if not huey.immediate:
            click.echo("已提交到任务队列，等待后台任务进程（flask --app wsgi jobs worker）完成……")
        try:
            n = result.get(blocking=True, timeout=timeout)
        except ResultTimeout:
            raise click.ClickException("任务进程未在限定时间内完成重建（任务仍在队列中）。"
                                       "请确认任务进程在运行，或停止任务进程后使用 --inline。") from None
    elapsed = time.monotonic() - start
    click.echo(f"索引已重建：{n} 门已发布课程，用时 {elapsed:.1f} 秒（{current_app.config['LMS_SEARCH_INDEX']}）。")


@search_cli.group("terms")
def terms_cli():
    """检索词典：领域术语与同义词（修改后自动排队重建索引）。"""


@terms_cli.command("list")
def list_terms():
    """列出词典中的全部词语及其同义词。"""
    dictionary = current_dictionary()
    click.echo(f"词典版本 {dictionary.generation}，共 {len(dictionary.entries)} 个词语：")
    for term, synonyms in dictionary.entries:
        click.echo(f"  {term}" + (f" = {'、'.join(synonyms)}" if synonyms else ""))


@terms_cli.command("set")
@click.argument("term")
@click.argument("synonyms", nargs=-1)
def set_term(term: str, synonyms: tuple[str, ...]):
    """添加或修改词语 TERM 及其同义词（词组用下划线连接，如 machine_learning）。"""
    existing = db.session.scalar(select(SearchTerm).where(SearchTerm.term == term))
    try:
        row = save_term(None, existing.id if existing else None, term, " ".join(synonyms))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"已保存“{row.term}”；索引将由后台任务进程按新词典重建。")


@terms_cli.command("delete")
@click.argument("term")
def remove_term(term: str):
    """从词典删除词语 TERM。"""
    existing = db.session.scalar(select(SearchTerm).where(SearchTerm.term == term))
    if existing is None:
        raise click.ClickException(f"词典中没有“{term}”。")
    delete_term(None, existing.id)
    db.session.commit()
    click.echo(f"已删除“{term}”；索引将由后台任务进程按新词典重建。")
