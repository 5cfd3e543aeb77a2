"""单位管理 and 地区学时 pages: object-level authorization, approvals, CSRF, the learner's status."""

import re

import pytest
from sqlalchemy import func, select

from lms.accounts.models import EmploymentStatus
from lms.core.audit import AuditEvent
from tests.records_helpers import UNIT_A, UNIT_B, employee
from tests.units_helpers import build


@pytest.fixture
def people(app, db_session, make_user):
    with app.test_request_context():
        return build(db_session, make_user)


def token(client, csrf_token, url="/unit"):
    return csrf_token(client.get(url).get_data(as_text=True))


def audit_count(db_session, action):
    return db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_unit_page_lists_pending_and_standing_with_masked_ids(client, login, people):
    login(people["unit_a"])
    page = client.get("/unit?year=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "单位管理" in html and "待审核学员" in html and "待审甲" in html
    assert people["pending"].id_number_masked in html and "*" in people["pending"].id_number_masked
    assert "乙一" not in html and "待审乙" not in html
    names = re.findall(r'<tr class="standing-row" data-below="(\d)">\s*<td class="text-nowrap">([^<]+)</td>', html)
    assert names == [("1", "甲无"), ("1", "甲去年"), ("1", "甲缺"), ("1", "甲撤"), ("1", "甲专"), ("0", "甲全")]
    assert "0 / 4 学时" in html and "还差 4 学时" in html and "公需还差 2 学时" in html and "未达标" in html
    assert "还差 0 学时" not in html
    assert "<style" not in html and "style=" not in html and "<script>" not in html
    assert 'href="/unit"' in html  # the nav entry 单位管理
    assert "导出 2026 年度学时记录" in html and f"/exports/new?unit={UNIT_A}" in html
    found = client.get("/unit?q=缺&year=2026").get_data(as_text=True)
    assert "甲缺" in found and "甲全" not in found


def test_unit_admin_cannot_see_or_decide_another_units_learners(client, login, people, csrf_token, db_session):
    login(people["unit_a"])
    assert client.get(f"/unit?unit={UNIT_B}").status_code == 403
    t = token(client, csrf_token)
    target = people["b_pending"]
    assert client.post(f"/unit/{UNIT_B}/learners/{target.id}/approve", data={"csrf_token": t}).status_code == 403
    assert client.post(f"/unit/{UNIT_A}/learners/{target.id}/approve", data={"csrf_token": t}).status_code == 404
    assert client.post(f"/unit/{UNIT_A}/learners/{target.id}/reject",
                       data={"csrf_token": t, "reason": "不是本单位"}).status_code == 404
    db_session.refresh(target)
    assert target.employment_status == EmploymentStatus.PENDING
    assert audit_count(db_session, "employment.approved") == audit_count(db_session, "employment.rejected") == 0


def test_other_roles_are_refused(client, login, people):
    assert client.get("/unit").status_code == 302  # anonymous → login
    assert client.get("/region").status_code == 302
    login(people["full"])
    assert client.get("/unit").status_code == 403
    assert client.get("/region").status_code == 403


def test_approve_then_a_second_decision_is_a_clear_conflict(client, login, people, csrf_token, db_session):
    login(people["unit_a"])
    learner = people["pending"]
    t = token(client, csrf_token)
    done = client.post(f"/unit/{UNIT_A}/learners/{learner.id}/approve?year=2026", data={"csrf_token": t})
    assert done.status_code == 303
    db_session.refresh(learner)
    assert learner.employment_status == EmploymentStatus.APPROVED
    assert audit_count(db_session, "employment.approved") == 1
    follow = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已确认 待审甲 为本单位人员" in follow and "没有待审核的学员" in follow
    again = client.post(f"/unit/{UNIT_A}/learners/{learner.id}/reject", data={"csrf_token": t, "reason": "重复"})
    assert again.status_code == 409
    assert "已处理（已通过），不能重复操作" in again.get_data(as_text=True)
    db_session.refresh(learner)
    assert learner.employment_status == EmploymentStatus.APPROVED
    assert audit_count(db_session, "employment.rejected") == 0


def test_rejection_needs_a_reason_and_the_learner_sees_it(client_factory, login, people, csrf_token, db_session,
                                                           make_user):
    admin_client = client_factory()
    pending = employee(make_user, UNIT_A, approved=False, real_name="待审丙")
    login_as(admin_client, people["unit_a"], csrf_token)
    t = token(admin_client, csrf_token)
    empty = admin_client.post(f"/unit/{UNIT_A}/learners/{pending.id}/reject", data={"csrf_token": t, "reason": " "})
    assert empty.status_code == 400 and "请填写不通过的原因" in empty.get_data(as_text=True)
    db_session.refresh(pending)
    assert pending.employment_status == EmploymentStatus.PENDING

    learner_client = client_factory()
    login_as(learner_client, pending, csrf_token)
    profile = learner_client.get("/profile").get_data(as_text=True)
    assert "待单位审核" in profile and "单位审核" in profile

    done = admin_client.post(f"/unit/{UNIT_A}/learners/{pending.id}/reject",
                             data={"csrf_token": t, "reason": "本单位无此人员，请核对工作单位"})
    assert done.status_code == 303
    assert audit_count(db_session, "employment.rejected") == 1
    profile = learner_client.get("/profile").get_data(as_text=True)
    assert "未通过" in profile and "原因：本单位无此人员，请核对工作单位" in profile

    approved_client = client_factory()
    login_as(approved_client, people["full"], csrf_token)
    assert "已通过" in approved_client.get("/profile").get_data(as_text=True)


def login_as(client, user, csrf_token):
    from tests.conftest import TEST_PASSWORD

    t = csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD,
                                       "csrf_token": t}).status_code == 302


def test_decisions_need_the_csrf_token(client, login, people, db_session):
    login(people["unit_a"])
    learner = people["pending"]
    refused = client.post(f"/unit/{UNIT_A}/learners/{learner.id}/approve", data={})
    assert refused.status_code == 400
    db_session.refresh(learner)
    assert learner.employment_status == EmploymentStatus.PENDING
    assert audit_count(db_session, "employment.approved") == 0


def test_region_page_for_the_auditor_only_their_region(client, login, people):
    login(people["auditor_bj"])
    page = client.get("/region?year=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "地区学时" in html and "北京" in html
    assert re.search(r'id="count-learners">5 <small', html) and re.search(r'id="count-below">5 <small', html)
    assert re.search(r'id="count-hours">16 <small class="fs-6">学时', html)
    assert re.search(r'id="count-units">1 <small', html)
    assert UNIT_A in html and "甲无" in html and "甲全" not in html and "乙一" not in html
    assert 'href="/region"' in html  # the nav entry 地区学时
    assert client.get("/region?region=440000").status_code == 403
    assert client.get(f"/unit?unit={UNIT_A}").status_code == 403  # an auditor does not run units


def test_admin_chooses_any_unit_or_region(client, login, people):
    login(people["admin"])
    chooser = client.get("/unit").get_data(as_text=True)
    assert "统一社会信用代码" in chooser
    assert "乙一" in client.get(f"/unit?unit={UNIT_B}&year=2026").get_data(as_text=True)
    bad = client.get("/unit?unit=91110108MA00AAAA00")
    assert bad.status_code == 400 and "没有登记" in bad.get_data(as_text=True)
    assert "440000" in client.get("/region").get_data(as_text=True)
    assert "乙一" in client.get("/region?region=440000&year=2025").get_data(as_text=True)
    assert client.get("/region?region=999999").status_code == 400


def test_standing_is_paged_fifty_a_page(client, login, people, make_user):
    for n in range(45):
        employee(make_user, UNIT_A, real_name=f"甲员{n:02d}")
    login(people["unit_a"])
    first = client.get("/unit?year=2026").get_data(as_text=True)
    second = client.get("/unit?year=2026&page=2").get_data(as_text=True)
    assert first.count('class="standing-row"') == 50 and second.count('class="standing-row"') == 1
    assert "甲全" in second and "甲全" not in first  # the one who met the target comes last
    assert "共 51 人" in second and 'aria-current="page">2<' in second



def test_dashboards_link_to_the_export_of_their_scope(client, login, people):
    login(people["unit_a"])
    page = client.get("/unit?year=2026").get_data(as_text=True)
    assert "/exports/new?unit=" in page and "year=2026" in page
    assert 'href="/exports"' in page  # the nav link to the user's exports
