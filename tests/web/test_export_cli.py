"""``flask export credits``: the same service as the pages, audited as the system; bad input refused."""

import csv
import io

import openpyxl
import pytest
from sqlalchemy import select

from lms.core.audit import AuditEvent
from lms.exports import records
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee


@pytest.fixture
def ledger(app, db_session, make_user):
    a1 = employee(make_user, UNIT_A, real_name="甲一")
    b1 = employee(make_user, UNIT_B, real_name="乙一")
    with app.test_request_context():
        completion(db_session, a1)
        completion(db_session, b1)
    return a1, b1


def exports(db_session):
    return db_session.scalars(select(AuditEvent).where(AuditEvent.action == "records.export")).all()


def test_the_cli_writes_a_unit_csv_and_audits_it_as_the_system(ledger, runner, tmp_path, db_session):
    out = tmp_path / "unit.csv"
    result = runner.invoke(args=["export", "credits", "--year", "2026", "--unit", UNIT_A, "--format", "csv",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "已导出 1 条学时记录" in result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert tuple(rows[0]) == records.HEADER and [r[0] for r in rows[1:]] == ["甲一"] and "*" in rows[1][1]
    [event] = exports(db_session)
    assert event.actor_id is None and event.detail["via"] == "cli" and event.detail["rows"] == 1
    assert event.detail["year"] == 2026 and event.detail["organization_id"] is not None


def test_the_cli_writes_xlsx_with_full_ids_for_everyone(ledger, runner, tmp_path, db_session):
    out = tmp_path / "all.xlsx"
    result = runner.invoke(args=["export", "credits", "--year", "2026", "--out", str(out), "--full-id-numbers"])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    ids = [sheet.cell(row=r, column=2).value for r in (2, 3)]
    assert sheet.max_row == 3 and all(len(i) == 18 and "*" not in i for i in ids)
    [event] = exports(db_session)
    assert event.detail["full_id_numbers"] is True and event.detail["format"] == "xlsx" and event.detail["rows"] == 2


@pytest.mark.parametrize("args, message", [
    (["--year", "2026", "--unit", "91110108MA00AAAA00", "--out", "x.csv"], "没有登记统一社会信用代码"),
    (["--year", "2026", "--region", "999999", "--out", "x.csv"], "地区代码 999999 不正确"),
    (["--year", "二〇二六", "--out", "x.csv"], "年度 二〇二六 不正确"),
    (["--year", "2026", "--format", "pdf", "--out", "x.csv"], "csv 或 xlsx"),
    (["--year", "2026", "--out", "x.pdf"], "请用 --format 指定导出格式"),
    (["--year", "2026", "--unit", UNIT_A, "--region", "110000", "--out", "x.csv"], "只能指定其中一个"),
    (["--year", "2026", "--out", "missing-folder/x.csv"], "不存在"),
])
def test_the_cli_refuses_bad_input_clearly(ledger, runner, tmp_path, db_session, args, message):
    args = [str(tmp_path / a) if a.startswith(("x.", "missing")) else a for a in args]
    result = runner.invoke(args=["export", "credits", *args])
    assert result.exit_code != 0
    assert message in result.output and "错误：" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [] and exports(db_session) == []
