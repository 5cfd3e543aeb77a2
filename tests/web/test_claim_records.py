"""Hours from an approved claim reach every reader of the ledger: 我的学时, the unit and region pages,
CSV/XLSX exports (the origin column after the 15 fixed ones) and the HR API, with their origin."""

import csv
import io

import openpyxl
import pytest

from lms.accounts.models import Role
from lms.claims import services as claims
from lms.exports import records
from lms.exports import services as exports
from tests.claims_helpers import rule, submit
from tests.records_helpers import UNIT_A, completion, employee, org
from tests.web.test_hr_api import bearer, issue


@pytest.fixture
def world(app, ctx, db_session, make_user):
    learner = employee(make_user, UNIT_A, real_name="甲登记")
    completion(db_session, learner)  # an online course too
    unit_admin = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲管理")
    auditor = make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审")
    rule(db_session)
    claim = submit(learner, kind="paper", hours="5", title="论文：继续教育学时认定")
    claims.review_claim(unit_admin, claim.id, decision="reduce", hours="3", reason="第二作者按 3 学时计")
    db_session.commit()
    return dict(learner=learner, unit_admin=unit_admin, auditor=auditor, claim=claim)


def test_exports_have_the_origin_after_the_fixed_columns(world, tmp_path):
    scope = records.scope_for(world["unit_admin"])
    exports.write_export(scope, year=2026, fmt="csv", out=tmp_path / "a.csv")
    raw = (tmp_path / "a.csv").read_bytes()
    table = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert tuple(table[0]) == records.HEADER and table[0][15] == "学时来源"
    rows = {row[8]: dict(zip(records.HEADER, row, strict=True)) for row in table[1:]}
    paper = rows["论文：继续教育学时认定"]
    assert (paper["学时"], paper["课程编号"], paper["学时来源"], paper["考试成绩"]) == ("3", "", "学时登记", "")
    assert paper["完成日期"] == "2026-05-20" and paper["年度"] == "2026"
    assert {row["学时来源"] for row in rows.values()} == {"学时登记", "在线课程"}
    exports.write_export(scope, year=2026, fmt="xlsx", out=tmp_path / "a.xlsx")
    workbook = openpyxl.load_workbook(tmp_path / "a.xlsx", read_only=True)
    values = [list(r) for r in workbook["学时记录"].iter_rows(values_only=True)]
    workbook.close()
    assert tuple(values[0]) == records.HEADER
    assert sorted(r[15] for r in values[1:]) == ["在线课程", "学时登记"]


def test_the_hr_api_gives_the_origin_and_no_course(app, client, world, db_session, make_user):
    _client, token = issue(app, db_session, make_user(roles=(Role.ADMIN,)), region="110000")
    data = client.get("/api/v1/credit-records", headers=bearer(token)).get_json()["data"]
    paper = next(r for r in data if r["origin"] == "external_claim")
    assert paper["origin_label"] == "学时登记" and paper["activity_kind"] == "paper"
    assert paper["course"] == {"code": None, "version": None, "title": "论文：继续教育学时认定"}
    assert paper["hours"] == 3.0 and paper["counts"] is True
    assert {r["origin"] for r in data} == {"external_claim", "online_course"}


def test_my_hours_shows_the_entry_with_its_origin(client, login, world):
    login(world["learner"])
    page = client.get("/me/hours/2026").get_data(as_text=True)
    assert "论文：继续教育学时认定" in page and "学时登记" in page and "在线课程" in page
    assert 'id="origin-external_claim"' in page


def test_the_unit_and_region_pages_count_the_claimed_hours(world):
    from lms.credits import services as ledger
    from lms.units import services as units

    summary = ledger.year_summary(world["learner"], 2026)
    online = sum(r.hours for r in summary.records if r.origin == "online_course")
    assert summary.total == online + 3
    board = units.unit_dashboard(world["unit_admin"], UNIT_A, year=2026)
    (row,) = [r for r in board.standing.items if r.real_name == "甲登记"]
    assert row.total == summary.total
    region = units.region_dashboard(world["auditor"], "110000", year=2026)
    assert region.hours_total == summary.total


def test_the_annual_certificate_names_the_origin_of_claimed_hours(world):
    from lms.certificates import services as certificates
    from lms.certificates.models import Certificate, CertificateKind

    cert = Certificate(user_id=world["learner"].id, credit_year=2026, kind=CertificateKind.ANNUAL)
    rows = dict(certificates._annual_rows(cert))
    assert rows["论文：继续教育学时认定（专业，学时登记）"] == "3 学时"
    assert any(title.endswith("（公需）") for title in rows)  # an online course names no origin
