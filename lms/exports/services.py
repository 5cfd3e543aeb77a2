"""Exports of completion records as CSV or XLSX: one service behind the page, the job and the CLI.

Rows come from :func:`records.record_query` (who may see what is decided there) and are turned into
the export columns by :func:`records.export_row`. Memory stays flat however many rows there are:
rows are read in keyset chunks (``id > last``), each chunk streamed from the database with
``yield_per``, and written out as they arrive (CSV line by line, XLSX with XlsxWriter's
``constant_memory`` mode). Between chunks no cursor is open, so a progress callback may commit.
"""

import contextlib
import csv
import io
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import xlsxwriter
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..accounts.models import Organization
from ..core.audit import AuditEvent, record_event
from ..core.clock import utcnow_naive
from ..core.database import commit_apart
from ..core.errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..core.storage import is_local, media_path, media_storage
from ..extensions import db
from . import records
from .models import ExportJob, ExportStatus

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# A spreadsheet treats a cell starting with one of these as a formula (or, for tab/CR, may shift it).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FOLDER = "exports"
YEAR_RANGE = (2000, 2100)

Progress = Callable[[int, int], None]


class Gone(DomainError):
    status = 410
    code = "expired"


# ---------------------------------------------------------------- settings and input

def inline_max_rows() -> int:
    return int(current_app.config["LMS_EXPORT_INLINE_MAX_ROWS"])


def ttl() -> timedelta:
    return timedelta(hours=float(current_app.config["LMS_EXPORT_TTL_HOURS"]))


def _chunk_rows() -> int:
    return max(1, int(current_app.config["LMS_EXPORT_CHUNK_ROWS"]))


def parse_format(value) -> str:
    fmt = (value or "").strip().lower()
    if fmt not in FORMATS:
        raise InvalidInput(_("导出格式 %(value)s 不支持，请选择 csv 或 xlsx。", value=value or _("（空）")), field="format")
    return fmt


def parse_year(value) -> int:
    text = str(value if value is not None else "").strip()
    if not text.isdigit() or not YEAR_RANGE[0] <= int(text) <= YEAR_RANGE[1]:
        raise InvalidInput(_("年度 %(year)s 不正确，应为 4 位年份，如 2026。", year=text or _("（空）")), field="year")
    return int(text)


def file_name(scope: records.Scope, year: int | None, fmt: str) -> str:
    """学时记录-<scope>-<year>.<fmt>, safe as a file name."""
    label = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", scope.label).strip() or _("导出")
    return _("学时记录-%(scope)s-%(year)s", scope=label, year=year if year is not None else _("全部年度")) + f".{fmt}"


def content_disposition(name: str) -> str:
    """An attachment header for a non-ASCII name (RFC 6266/5987), with an ASCII fallback."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", name.encode("ascii", "ignore").decode()).strip("_.") or "export"
    suffix = Path(name).suffix
    if suffix and not fallback.endswith(suffix):
        fallback = "export" + suffix
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# ---------------------------------------------------------------- reading rows

def count_rows(scope: records.Scope, year: int | None) -> int:
    query = records.record_query(scope, year=year, active_only=True).order_by(None)
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def iter_rows(scope: records.Scope, year: int | None, *, between_chunks: Callable[[int], None] | None = None
              ) -> Iterator[list]:
    """Every export row in ``scope``, in id order, never holding more than one chunk.

    ``between_chunks(rows_so_far)`` is called after each chunk, when its cursor is closed."""
    chunk, batch = _chunk_rows(), min(1000, _chunk_rows())
    full = scope.full_id_numbers
    last_id, done = None, 0
    while True:
        query = records.record_query(scope, year=year, active_only=True, after_id=last_id).limit(chunk)
        result = db.session.execute(query, execution_options={"yield_per": batch})
        seen = 0
        try:
            for row in result:
                seen += 1
                last_id = row.id
                yield records.export_row(row, full_id_numbers=full)
        finally:
            result.close()
        done += seen
        if between_chunks is not None:
            between_chunks(done)
        if seen < chunk:
            return


def csv_cell(value) -> str:
    """One CSV cell: numbers as plain numbers, text protected against formula injection."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_hours(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


# ---------------------------------------------------------------- writing

def iter_csv(scope: records.Scope, *, year: int | None, flush_rows: int = 500) -> Iterator[bytes]:
    """The CSV file as UTF-8 chunks (BOM first), for a streamed HTTP response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(records.HEADER)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in iter_rows(scope, year):
        writer.writerow([csv_cell(v) for v in row])
        pending += 1
        if pending >= flush_rows:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode("utf-8")


def _write_csv(rows: Iterator[list], out: Path) -> int:
    n = 0
    with open(out, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(records.HEADER)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
            n += 1
    return n


# Column widths (characters) for the XLSX sheet, in HEADER order.
_WIDTHS = (10, 20, 28, 21, 10, 6, 10, 12, 30, 6, 11, 11, 8, 20, 48, 10)


def _write_xlsx(rows: Iterator[list], out: Path) -> int:
    """XlsxWriter in constant-memory mode; every cell written with an explicit type, so text stays
    text (never a formula, a URL or a number: ID numbers, credit codes and certificate numbers keep
    every digit), numbers are numbers and dates are date cells (``yyyy-mm-dd``) that sort and filter
    as dates."""
    workbook = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                              "strings_to_urls": False, "strings_to_numbers": False,
                                              "tmpdir": str(out.parent)})
    try:
        sheet = workbook.add_worksheet(_("学时记录"))
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        for col, width in enumerate(_WIDTHS):
            sheet.set_column(col, col, width)
        for col, title in enumerate(records.HEADER):
            sheet.write_string(0, col, title, bold)
        sheet.freeze_panes(1, 0)
        n = 0
        for n, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if isinstance(value, bool) or value is None or value == "":
                    continue
                if isinstance(value, int | float | Decimal):
                    sheet.write_number(n, col, float(value))
                elif isinstance(value, date):
                    sheet.write_datetime(n, col, datetime.combine(value, datetime.min.time()), day)
                else:
                    sheet.write_string(n, col, str(value))
    finally:
        workbook.close()
    return n


def write_export(scope: records.Scope, *, year: int | None, fmt: str, out, progress: Progress | None = None,
                 actor=None, via: str = "cli", job: ExportJob | None = None, ip: str | None = None,
                 commit: Callable[[], None] | None = None) -> int:
    """Write the records in ``scope`` to the file ``out`` as ``fmt``; audit it; return the row count.

    ``progress(rows_done, rows_total)`` is called before the first row and after each chunk (with
    no cursor open: it may commit). ``actor`` None is the system (the CLI). With ``commit`` (an
    edge's), the reading is committed before the audit event is written in a transaction of its
    own (see :func:`lms.core.database.commit_apart`); without it the caller commits."""
    fmt = parse_format(fmt)
    out = Path(out)
    total = count_rows(scope, year) if progress is not None else 0

    def between_chunks(done: int) -> None:
        if progress is not None:
            progress(done, max(total, done))

    if progress is not None:
        progress(0, total)
    rows = iter_rows(scope, year, between_chunks=between_chunks)
    n = _write_csv(rows, out) if fmt == "csv" else _write_xlsx(rows, out)

    def audit() -> None:
        audit_export(actor, scope, year=year, fmt=fmt, rows=n, via=via, job=job, ip=ip)

    if commit is None:
        audit()
    else:
        commit_apart(audit, commit=commit)
    return n


def audit_export(actor, scope: records.Scope, *, year: int | None, fmt: str, rows: int, via: str,
                 job: ExportJob | None = None, ip: str | None = None):
    """Who exported which records (scope, year, format, full ID numbers or not) and how many."""
    return record_event(actor, "records.export", job, ip=ip, via=via, scope=scope.label, **scope.filters(),
                        year=year, format=fmt, rows=rows)


# ---------------------------------------------------------------- background jobs

def start_export_job(actor, scope: records.Scope, *, year: int | None, fmt: str, rows: int | None = None,
                     ip: str | None = None) -> ExportJob:
    """A queued export for ``actor``; the edge commits and then enqueues the job."""
    job = ExportJob(requested_by_id=actor.id, token=secrets.token_urlsafe(32), format=parse_format(fmt), year=year,
                    organization_id=scope.organization_id, region_code=scope.region_code,
                    full_id_numbers=scope.full_id_numbers, status=ExportStatus.QUEUED, rows_total=rows, rows_done=0)
    db.session.add(job)
    db.session.flush()
    record_event(actor, "records.export_requested", job, ip=ip, scope=scope.label, **scope.filters(), year=year,
                 format=job.format, rows=rows)
    return job


def _claim(job_id: int) -> bool:
    """queued → running, once: of two jobs for one export (the sweep queues a waiting one again),
    one runs it."""
    return db.session.execute(
        update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED)
        .values(status=ExportStatus.RUNNING, started_at=utcnow_naive(), error=None)
        .execution_options(synchronize_session=False)).rowcount == 1


def waiting_jobs(*, before: datetime) -> list[int]:
    """Exports queued before ``before`` and not started: their job waits behind others, or was never
    queued (the queue was down when they were asked for), or was lost with it."""
    return list(db.session.scalars(select(ExportJob.id).where(
        ExportJob.status == ExportStatus.QUEUED, ExportJob.created_at < before).order_by(ExportJob.id)))


def _stalled(now: datetime):
    cutoff = now - timedelta(minutes=current_app.config["LMS_EXPORT_STALL_MINUTES"])
    return (ExportJob.status == ExportStatus.RUNNING) & (ExportJob.updated_at < cutoff)


def any_stalled_job() -> bool:
    """A read, so the minute's sweep takes SQLite's write lock only when it has a job to fail."""
    return db.session.scalar(select(select(ExportJob.id).where(_stalled(utcnow_naive())).exists()))


def fail_stalled_jobs() -> list[int]:
    """Running exports with no progress for LMS_EXPORT_STALL_MINUTES (their worker died: SIGKILL,
    the OOM killer, a lost machine): failed with a message asking to start again, each by one
    conditional UPDATE (of several sweeps, one fails it). The partial file died with the worker's
    disk or is overwritten by nothing (each run names its own). The caller commits."""
    now = utcnow_naive()
    stalled = _stalled(now)
    failed = []
    for job_id in db.session.scalars(select(ExportJob.id).where(stalled).order_by(ExportJob.id)):
        done = db.session.execute(
            update(ExportJob).where(ExportJob.id == job_id, stalled)
            .values(status=ExportStatus.FAILED, finished_at=now,
                    error=_("导出中断（处理它的后台进程停止了响应）。请重新发起导出。"))
            .execution_options(synchronize_session=False)).rowcount
        if done == 1:
            target = db.session.get(ExportJob, job_id)
            record_event(None, "records.export_interrupted", target, rows_done=target.rows_done)
            failed.append(job_id)
    return failed


def job_scope(job: ExportJob) -> records.Scope:
    """The job's scope, authorised again with the requester's grants as they are now."""
    unit = db.session.get(Organization, job.organization_id).credit_code if job.organization_id else None
    return records.scope_for(job.requested_by, unit=unit, region=job.region_code,
                             full_id_numbers=job.full_id_numbers)


def job_label(job: ExportJob) -> str:
    if job.organization is not None:
        return job.organization.name
    if job.region is not None:
        return job.region.name
    return _(records.EVERYTHING)


def job_file_name(job: ExportJob) -> str:
    return file_name(records.Scope(label=job_label(job)), job.year, job.format)


def _remove(relative: str | None) -> None:
    if relative:
        with contextlib.suppress(ValueError):  # a key outside the storage: nothing of ours to remove
            media_storage().delete(relative)


def run_export_job(job: ExportJob, *, commit: Callable[[], None]) -> ExportJob:
    """Run a queued job to its file. ``commit`` (the job's: it is an edge) makes progress visible;
    every change to the job is written apart from the reading (:func:`commit_apart`)."""
    if job.status != ExportStatus.QUEUED:
        return job

    def save(**values) -> None:
        commit_apart(lambda: [setattr(job, name, value) for name, value in values.items()], commit=commit)

    claimed = []
    commit_apart(lambda: claimed.append(_claim(job.id)), commit=commit)
    if not claimed[0]:  # a second job for it (queued again by the sweep) found it taken
        db.session.refresh(job)
        return job
    db.session.refresh(job)
    relative = f"{EXPORT_FOLDER}/{job.id}-{secrets.token_hex(8)}.{job.format}"
    partial = media_path(relative + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)

    def progress(done: int, total: int) -> None:
        save(rows_total=total, rows_done=done)

    try:
        scope = job_scope(job)
        n = write_export(scope, year=job.year, fmt=job.format, out=partial, progress=progress,
                         actor=job.requested_by, via="job", job=job, commit=commit)
        _store(partial, relative)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        job_id = job.id
        db.session.rollback()
        job = db.session.get(ExportJob, job_id)
        error = exc.message if isinstance(exc, DomainError) else _("导出过程中出错，请稍后重试或联系平台管理员。")
        save(status=ExportStatus.FAILED, finished_at=utcnow_naive(), error=error)
        if not isinstance(exc, DomainError):
            raise
        return job
    finished = utcnow_naive()
    save(status=ExportStatus.DONE, file_path=relative, rows_done=n, rows_total=n, finished_at=finished,
         expires_at=finished + ttl())
    return job


def _store(partial: Path, relative: str) -> None:
    """The finished file (written on this node's disk) into the storage every node reads."""
    storage = media_storage()
    if is_local(storage):
        os.replace(partial, storage.path(relative))
        return
    try:
        with open(partial, "rb") as fh:
            storage.save(relative, fh)
    finally:
        partial.unlink(missing_ok=True)


def job_for(actor, job_id: int) -> ExportJob:
    """The requester's own job; anyone else is refused."""
    job = db.session.get(ExportJob, job_id)
    if job is None:
        raise NotFound(_("没有找到这个导出任务。"))
    if actor is None or job.requested_by_id != getattr(actor, "id", None):
        raise NotAllowed(_("这个导出任务不是您发起的，只有发起人可以查看和下载。"))
    return job


def is_expired(job: ExportJob) -> bool:
    return job.status == ExportStatus.EXPIRED or (job.expires_at is not None and job.expires_at <= utcnow_naive())


def expire_job(job: ExportJob) -> None:
    _remove(job.file_path)
    job.file_path, job.status = None, ExportStatus.EXPIRED


def file_for_download(actor, job: ExportJob, token: str, *, ip: str | None = None) -> str:
    """The finished file's storage key, for its requester with the right token before it expires;
    audited."""
    if job.requested_by_id != getattr(actor, "id", None):
        raise NotAllowed(_("这个导出文件只能由发起导出的人下载。"))
    if not token or not secrets.compare_digest(str(token), job.token):
        raise NotAllowed(_("下载链接不完整或不正确，请从“我的导出”页面重新打开。"))
    if is_expired(job):
        expire_job(job)
        hours = current_app.config["LMS_EXPORT_TTL_HOURS"]
        raise Gone(_("下载链接已过期（导出文件保留 %(hours)s 小时），文件已删除。请重新导出。", hours=hours))
    if job.status != ExportStatus.DONE or not job.file_path:
        raise Conflict(_("导出尚未完成，请稍候在进度页面下载。") if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
                       else _("这次导出没有成功，没有可下载的文件。请重新导出。"))
    try:
        present = media_storage().exists(job.file_path)
    except ValueError:
        present = False
    if not present:
        expire_job(job)
        raise Gone(_("导出文件已不存在，请重新导出。"))
    record_event(actor, "records.export_download", job, ip=ip, format=job.format, rows=job.rows_done,
                 full_id_numbers=job.full_id_numbers)
    return job.file_path


def purge_expired(now=None) -> int:
    """Delete the files of expired exports; returns how many were deleted.

    Jobs still queued or running a whole TTL after they were asked for (a worker killed mid-job)
    are marked failed and their partial files removed too."""
    now = now or utcnow_naive()
    jobs = db.session.scalars(select(ExportJob).where(
        ExportJob.file_path.is_not(None), ExportJob.expires_at <= now)).all()
    for job in jobs:
        expire_job(job)
    stale = db.session.scalars(select(ExportJob).where(
        ExportJob.status.in_((ExportStatus.QUEUED, ExportStatus.RUNNING)), ExportJob.created_at <= now - ttl()))
    for job in stale:
        for partial in media_path(EXPORT_FOLDER).glob(f"{job.id}-*.partial"):
            partial.unlink(missing_ok=True)
        job.status, job.finished_at = ExportStatus.FAILED, now
        job.error = _("导出在后台中断，没有完成。请重新导出。")
    # Direct downloads are unlinked once opened; one left by a process killed mid-write goes after a day.
    folder = media_path(EXPORT_FOLDER)
    if folder.is_dir():
        cutoff = time.time() - 86400
        for leftover in folder.glob("direct-*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
    db.session.flush()
    return len(jobs)


def recent_jobs(actor, limit: int = 20) -> list[ExportJob]:
    return list(db.session.scalars(select(ExportJob).where(ExportJob.requested_by_id == actor.id)
                                   .order_by(ExportJob.id.desc()).limit(limit)))


def recent_direct_exports(actor, limit: int = 20) -> list:
    """The actor's recent exports downloaded at once (not through a job), from the audit log."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == actor.id,
                                                         AuditEvent.action == "records.export")
                                .order_by(AuditEvent.id.desc()).limit(limit * 2))
    return [e for e in events if (e.detail or {}).get("via") == "web"][:limit]


def job_status(job: ExportJob) -> dict:
    total = job.rows_total or 0
    percent = 100 if job.status == ExportStatus.DONE else (min(99, job.rows_done * 100 // total) if total else 0)
    return {"id": job.id, "status": job.status, "rows_done": job.rows_done, "rows_total": job.rows_total,
            "percent": percent, "error": job.error, "expired": is_expired(job)}
