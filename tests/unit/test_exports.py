"""The export service: columns, BOM, XLSX read back, masking, formula injection, progress, audit, purge."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from lms.accounts.models import Role
from lms.core import clock
from lms.core.audit import AuditEvent
from lms.exports import records, services
from lms.exports.models import ExportJob, ExportStatus
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee, org


@pytest.fixture
def people(ctx, db_session, make_user):
    a1 = employee(make_user, UNIT_A, real_name="甲一")
    a2 = employee(make_user, UNIT_A, real_name="甲二")
    b1 = employee(make_user, UNIT_B, region="440000", real_name="乙一")
    completion(db_session, a1)
    completion(db_session, a1, code="GX-DT-002", score=75)
    completion(db_session, a2, certificate=True)
    completion(db_session, b1, certificate=True)
    # Names a spreadsheet would take for formulas (set directly: registration would refuse them).
    a2.real_name = "=HYPERLINK(\"http://evil.example\",\"点我\")"
    b1.real_name = "@SUM(1+1)"
    db_session.commit()
    admin_a = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A))
    auditor = make_user(roles=(Role.HR_AUDITOR,), region_code="440000")
    admin = make_user(roles=(Role.ADMIN,))
    return dict(a1=a1, a2=a2, b1=b1, admin_a=admin_a, auditor=auditor, admin=admin)


def full_id(user) -> str:
    from lms.accounts import crypto

    return crypto.decrypt(user.id_number_encrypted)


def expected_rows(scope, year=None):
    from lms.extensions import db

    return [records.export_row(r, full_id_numbers=scope.full_id_numbers)
            for r in db.session.execute(records.record_query(scope, year=year))]


def norm(value) -> str:
    """A cell as text, numbers compared by value (2026 == 2026.0, 1.50 == 1.5)."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return f"{Decimal(str(value)).normalize():f}"
    if isinstance(value, datetime):  # a date cell read back
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))


def test_csv_has_the_columns_in_order_a_bom_and_every_row(people, tmp_path):
    scope = records.scope_for(people["admin"])
    out = tmp_path / "all.csv"
    n = services.write_export(scope, year=None, fmt="csv", out=out, actor=people["admin"], via="web")
    table = read_csv(out)
    assert tuple(table[0]) == records.HEADER and records.HEADER[:15] == records.COLUMNS  # the origin after the 15
    assert n == len(table) - 1 == 4
    expected = expected_rows(scope)
    assert [row[records.HEADER.index("课程编号")] for row in table[1:]] == [r[7] for r in expected]
    first = dict(zip(records.HEADER, table[1], strict=True))
    assert first["姓名"] == "甲一" and first["统一社会信用代码"] == UNIT_A and first["年度"] == "2026"
    assert first["完成日期"] == "2026-03-10" and first["考试成绩"] == "90" and first["学时"] == norm(expected[0][9])
    assert "*" in first["身份证号"]  # masked: no full IDs asked for
    assert first["学时来源"] == "在线课程"
    # 乙一's region (Guangdong) closes its year later: a March completion counts for 2025 there.
    assert services.count_rows(scope, 2026) == 3 and services.count_rows(scope, 2025) == 1
    assert services.count_rows(scope, 2024) == 0


def test_xlsx_writes_dates_as_date_cells_and_codes_as_text(people, tmp_path, db_session):
    from lms.learning import services as learning

    learning.enroll(people["a1"], "GX-NS-001")  # a start date (the others have none: written as empty)
    scope = records.scope_for(people["admin"], full_id_numbers=True)
    services.write_export(scope, year=None, fmt="xlsx", out=tmp_path / "a.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "a.xlsx")["学时记录"]
    column = {title: i + 1 for i, title in enumerate(records.HEADER)}
    rows = range(2, sheet.max_row + 1)
    assert len(rows) == 4
    for r in rows:
        for title in ("开始日期", "完成日期"):
            cell = sheet.cell(r, column[title])
            if title == "开始日期" and cell.value is None:
                continue
            assert cell.is_date and isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd", title
            assert cell.value.time() == datetime.min.time()
        for title in ("身份证号", "统一社会信用代码", "课程编号", "证书编号", "验证网址"):
            cell = sheet.cell(r, column[title])
            if title in ("证书编号", "验证网址") and cell.value is None:  # no certificate: an empty cell
                continue
            assert cell.data_type == "s" and isinstance(cell.value, str), title
        for title in ("年度", "学时"):
            assert sheet.cell(r, column[title]).data_type == "n", title
    first = {title: sheet.cell(2, i).value for title, i in column.items()}
    assert first["完成日期"] == datetime(2026, 3, 10) and first["身份证号"] == full_id(people["a1"])
    assert isinstance(first["开始日期"], datetime)


def test_xlsx_reads_back_with_the_same_rows_as_csv(people, tmp_path):
    scope = records.scope_for(people["admin"], full_id_numbers=True)
    services.write_export(scope, year=None, fmt="csv", out=tmp_path / "a.csv")
    n = services.write_export(scope, year=None, fmt="xlsx", out=tmp_path / "a.xlsx")
    workbook = openpyxl.load_workbook(tmp_path / "a.xlsx", read_only=True)
    sheet = workbook["学时记录"]
    xlsx_rows = [[norm(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    csv_rows = read_csv(tmp_path / "a.csv")
    assert n == 4 and tuple(xlsx_rows[0]) == records.HEADER
    # Same values; CSV escapes formula-like text with an apostrophe, XLSX keeps it as a plain string.
    assert [[c.removeprefix("'") for c in row] for row in csv_rows] == [[norm(c) for c in row] for row in xlsx_rows]
    assert len(xlsx_rows[1][1]) == 18 and xlsx_rows[1][1] == full_id(people["a1"])  # a string, all 18 digits
    assert [norm(v) for v in expected_rows(scope)[0]] == xlsx_rows[1]


def test_ids_are_masked_unless_full_ids_are_granted(people, tmp_path):
    masked = records.scope_for(people["auditor"])
    full = records.scope_for(people["auditor"], full_id_numbers=True)
    services.write_export(masked, year=None, fmt="csv", out=tmp_path / "m.csv")
    services.write_export(full, year=None, fmt="csv", out=tmp_path / "f.csv")
    assert [r[1] for r in read_csv(tmp_path / "m.csv")[1:]] == [people["b1"].id_number_masked]
    assert [r[1] for r in read_csv(tmp_path / "f.csv")[1:]] == [full_id(people["b1"])]


def test_formula_like_text_is_escaped_in_csv_and_stays_text_in_xlsx(people, tmp_path):
    scope = records.scope_for(people["admin"])
    services.write_export(scope, year=None, fmt="csv", out=tmp_path / "x.csv")
    names = [row[0] for row in read_csv(tmp_path / "x.csv")[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"点我\")" in names and "'@SUM(1+1)" in names and "甲一" in names
    services.write_export(scope, year=None, fmt="xlsx", out=tmp_path / "x.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "x.xlsx").active
    cells = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=1).data_type for r in range(2, 6)}
    assert cells["=HYPERLINK(\"http://evil.example\",\"点我\")"] == "s" and cells["@SUM(1+1)"] == "s"
    assert sheet.cell(row=2, column=6).data_type == "n"  # the year stays a number
    for text, escaped in (("=1+2", "'=1+2"), ("+86", "'+86"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
                          ("\rx", "'\rx"), ("a=b", "a=b"), ("", "")):
        assert services.csv_cell(text) == escaped
    assert services.csv_cell(Decimal("1.50")) == "1.5" and services.csv_cell(-3) == "-3"


def test_streamed_csv_is_the_same_file(people, tmp_path):
    scope = records.scope_for(people["admin_a"])
    services.write_export(scope, year=2026, fmt="csv", out=tmp_path / "s.csv")
    assert b"".join(services.iter_csv(scope, year=2026, flush_rows=1)) == (tmp_path / "s.csv").read_bytes()


def test_rows_are_read_in_chunks_and_progress_is_reported(people, tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_EXPORT_CHUNK_ROWS", 2)
    scope = records.scope_for(people["admin"])
    seen = []
    n = services.write_export(scope, year=None, fmt="xlsx", out=tmp_path / "p.xlsx",
                              progress=lambda done, total: seen.append((done, total)))
    assert n == 4 and seen == [(0, 4), (2, 4), (4, 4), (4, 4)]  # the last chunk is the empty one
    assert [r[0] for r in services.iter_rows(scope, None)] == [r[0] for r in expected_rows(scope)]


def test_every_export_is_audited_with_its_filters_and_count(people, tmp_path, db_session):
    scope = records.scope_for(people["auditor"], full_id_numbers=True)
    services.write_export(scope, year=None, fmt="xlsx", out=tmp_path / "a.xlsx", actor=people["auditor"], via="web",
                          ip="192.0.2.1")
    services.write_export(records.narrow(records.Scope(), unit=UNIT_A), year=2026, fmt="csv", out=tmp_path / "c.csv")
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "records.export")
                                .order_by(AuditEvent.id)).all()
    web, cli = events[-2:]
    assert web.actor_id == people["auditor"].id and web.ip == "192.0.2.1"
    assert web.detail == {"via": "web", "scope": scope.label, "organization_id": None, "region_code": "440000",
                          "full_id_numbers": True, "year": None, "format": "xlsx", "rows": 1}
    assert cli.actor_id is None and cli.detail["via"] == "cli" and cli.detail["rows"] == 3
    assert cli.detail["organization_id"] == org(db_session, UNIT_A).id and cli.detail["full_id_numbers"] is False


def test_bad_format_and_year_are_refused(people, tmp_path):
    from lms.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="csv 或 xlsx"):
        services.write_export(records.Scope(), year=2026, fmt="pdf", out=tmp_path / "x.pdf")
    for bad in ("", "20x6", "1999", "12026"):
        with pytest.raises(InvalidInput, match="年度"):
            services.parse_year(bad)
    assert not (tmp_path / "x.pdf").exists()


def test_a_job_writes_its_file_and_the_sweep_deletes_it_when_expired(people, db_session):
    scope = records.scope_for(people["admin_a"])
    job = services.start_export_job(people["admin_a"], scope, year=2026, fmt="csv", rows=3)
    db_session.commit()
    with clock.freeze(datetime(2026, 4, 1, 8, 0)):
        services.run_export_job(job, commit=db_session.commit)
    assert job.status == ExportStatus.DONE and job.rows_done == job.rows_total == 3
    assert job.expires_at == datetime(2026, 4, 2, 8, 0)
    path = services.media_path(job.file_path)
    assert len(read_csv(path)) == 4
    with clock.freeze(datetime(2026, 4, 2, 7, 59)):
        assert services.purge_expired() == 0 and path.exists()
    with clock.freeze(datetime(2026, 4, 2, 8, 1)):
        assert services.purge_expired() == 1
    assert not path.exists() and job.status == ExportStatus.EXPIRED and job.file_path is None
    kinds = [e.detail.get("via") for e in db_session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "ExportJob", AuditEvent.target_id == str(job.id)))]
    assert kinds == [None, "job"]  # requested, then exported


def test_the_sweep_fails_jobs_left_unfinished_for_a_whole_ttl(people, db_session):
    scope = records.scope_for(people["admin_a"])
    with clock.freeze(datetime(2026, 4, 1, 8, 0)):
        job = services.start_export_job(people["admin_a"], scope, year=2026, fmt="csv", rows=3)
        db_session.commit()
    partial = services.media_path(f"exports/{job.id}-abc.csv.partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text("half")
    with clock.freeze(datetime(2026, 4, 2, 7, 0)):
        services.purge_expired()
    assert job.status == ExportStatus.QUEUED and partial.exists()
    with clock.freeze(datetime(2026, 4, 2, 8, 0)):
        services.purge_expired()
    assert job.status == ExportStatus.FAILED and "中断" in job.error and not partial.exists()


def test_a_job_whose_requester_lost_the_right_fails_with_a_message(people, db_session):
    from lms.accounts.models import RoleGrant

    scope = records.scope_for(people["admin_a"])
    job = services.start_export_job(people["admin_a"], scope, year=2026, fmt="xlsx", rows=3)
    db_session.commit()
    for grant in db_session.scalars(select(RoleGrant).where(RoleGrant.user_id == people["admin_a"].id)):
        db_session.delete(grant)
    db_session.commit()
    db_session.expire_all()
    job = services.run_export_job(db_session.get(ExportJob, job.id), commit=db_session.commit)
    assert job.status == ExportStatus.FAILED and "单位管理员" in job.error and job.file_path is None
    assert job.finished_at is not None and job.expires_at is None
    assert services.job_status(job)["percent"] == 0


def test_file_names_and_content_disposition():
    name = services.file_name(records.Scope(label="示例/科技:有限公司"), 2026, "csv")
    assert name == "学时记录-示例_科技_有限公司-2026.csv"
    header = services.content_disposition(name)
    assert header.startswith('attachment; filename="') and "filename*=UTF-8''%E5%AD%A6%E6%97%B6" in header
    assert header.split('"')[1].endswith(".csv") and all(ord(c) < 128 for c in header)


def test_rows_are_streamed_from_the_database(people, tmp_path, app, monkeypatch):
    """yield_per on the export query: stream_results, a server-side cursor on PostgreSQL (psycopg 3)."""
    from sqlalchemy import event

    from lms.extensions import db

    monkeypatch.setitem(app.config, "LMS_EXPORT_CHUNK_ROWS", 3)
    seen = []

    def grab(conn, cursor, statement, params, context, executemany):
        if "FROM credit_record" in statement and "count(" not in statement:
            seen.append((type(cursor).__name__, context.execution_options.get("stream_results")))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        n = services.write_export(records.Scope(), year=None, fmt="csv", out=tmp_path / "s.csv")
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    assert n == 4 and len(seen) == 2  # two chunks of at most 3 rows
    assert all(stream for _, stream in seen)
    if db.engine.dialect.name == "postgresql":
        assert {name for name, _ in seen} == {"ServerCursor"}


def test_the_sweep_removes_direct_download_files_left_behind(people, db_session):
    import os
    import time

    folder = services.media_path(services.EXPORT_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    old, fresh = folder / "direct-left.xlsx", folder / "direct-now.xlsx"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    services.purge_expired()
    assert not old.exists() and fresh.exists()  # one being sent right now stays
    fresh.unlink()
