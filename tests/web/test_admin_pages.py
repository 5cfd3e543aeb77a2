"""The admin console's pages: find → person → grant/revoke/disable/enable/reset, refusals shown on the
page with nothing changed, the audit log's filters and its CSV and XLSX downloads."""

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from lms.accounts.models import Role, RoleGrant, UserSession
from lms.core.audit import AuditEvent
from tests.conftest import TEST_PASSWORD

REASON = "核实后处理"


@pytest.fixture
def admin(make_user):
    return make_user(roles=(Role.ADMIN,), real_name="后台管理员")


def token(client, csrf_token, url):
    return csrf_token(client.get(url).get_data(as_text=True))


def test_find_a_person_by_part_of_their_mobile_and_open_their_page(client, login, admin, make_user):
    person = make_user(real_name="司马查找", mobile="13755556666")
    login(admin)
    html = client.get("/admin/people?q=5556666").get_data(as_text=True)
    assert "司马查找" in html and person.id_number_masked in html and f"/admin/people/{person.id}" in html
    page = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert "司马查找" in page and "13755556666" in page and "授予角色" in page and "停用账号" in page
    # Someone without working mail or phone: the person page leads to the operator's recovery page.
    assert f'href="/accounts/{person.id}/recovery"' in page
    assert client.get(f"/accounts/{person.id}/recovery").status_code == 200
    assert "没有找到符合条件的人员" in client.get("/admin/people?q=查无此人").get_data(as_text=True)
    assert client.get("/admin/people/999999").status_code == 404


def test_disabling_signs_the_person_out_and_enabling_lets_them_back(client, client_factory, login, admin, make_user,
                                                                    csrf_token, db_session):
    person = make_user(real_name="被停用者")
    theirs = client_factory()
    page = theirs.get("/login")
    assert theirs.post("/login", data={"login": person.mobile, "password": TEST_PASSWORD,
                                       "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 302
    assert theirs.get("/profile").status_code == 200

    login(admin)
    url = f"/admin/people/{person.id}"
    done = client.post(f"{url}/disable", data={"reason": REASON, "csrf_token": token(client, csrf_token, url)})
    assert done.status_code == 303
    assert "账号已停用，1 处登录已结束" in client.get(url).get_data(as_text=True)
    assert theirs.get("/profile").status_code == 302  # signed out
    page = theirs.get("/login")
    refused = theirs.post("/login", data={"login": person.mobile, "password": TEST_PASSWORD,
                                          "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert "该账号已停用，请联系平台管理员。" in refused.get_data(as_text=True)

    done = client.post(f"{url}/enable", data={"reason": REASON, "csrf_token": token(client, csrf_token, url)})
    assert done.status_code == 303
    page = theirs.get("/login")
    assert theirs.post("/login", data={"login": person.mobile, "password": TEST_PASSWORD,
                                       "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 302
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(person.id),
                                                         AuditEvent.action.in_(("user.disabled", "user.enabled")))
                                .order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_id, e.detail["reason"]) for e in events] == [
        ("user.disabled", admin.id, REASON), ("user.enabled", admin.id, REASON)]


def test_disabling_oneself_or_without_a_reason_is_refused_on_the_page(client, login, admin, make_user, csrf_token,
                                                                      db_session):
    login(admin)
    url = f"/admin/people/{admin.id}"
    refused = client.post(f"{url}/disable", data={"reason": REASON, "csrf_token": token(client, csrf_token, url)})
    assert refused.status_code == 409 and "不能停用自己的账号" in refused.get_data(as_text=True)
    person = make_user()
    url = f"/admin/people/{person.id}"
    refused = client.post(f"{url}/disable", data={"reason": "", "csrf_token": token(client, csrf_token, url)})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "请写明原因" in html and 'id="reason-disable-err"' in html
    db_session.refresh(admin)
    db_session.refresh(person)
    assert admin.is_active_account and person.is_active_account
    assert client.get("/profile").status_code == 200  # still signed in


def test_disabling_the_last_admin_is_refused_with_the_reason(client, login, make_user, csrf_token, db_session):
    for grant in db_session.scalars(select(RoleGrant).where(RoleGrant.role == Role.ADMIN)):
        grant.user.is_active_account = False
    db_session.commit()
    first = make_user(roles=(Role.ADMIN,), real_name="最后的管理员")
    login(first)
    url = f"/admin/people/{first.id}"
    grant = first.grants_for(Role.ADMIN)[0]
    refused = client.post(f"{url}/roles/{grant.id}/revoke",
                          data={"reason": REASON, "csrf_token": token(client, csrf_token, url)})
    assert refused.status_code == 409 and "没有可用的管理员" in refused.get_data(as_text=True)
    assert db_session.get(RoleGrant, grant.id) is not None


def test_grant_needs_the_region_for_a_region_role_then_revoke(client, login, admin, make_user, csrf_token, db_session):
    person = make_user(real_name="将任审核")
    login(admin)
    url = f"/admin/people/{person.id}"
    refused = client.post(f"{url}/roles", data={"grant-role": "hr_auditor", "grant-reason": REASON,
                                                "csrf_token": token(client, csrf_token, url)})
    assert refused.status_code == 400 and "必须指定地区" in refused.get_data(as_text=True)
    assert not person.has_role(Role.HR_AUDITOR)
    done = client.post(f"{url}/roles", data={"grant-role": "hr_auditor", "grant-region_code": "110000",
                                             "grant-reason": REASON, "csrf_token": token(client, csrf_token, url)})
    assert done.status_code == 303
    db_session.refresh(person)
    grant = person.grants_for(Role.HR_AUDITOR)[0]
    assert grant.region_code == "110000" and grant.granted_by_id == admin.id
    assert "北京市" in client.get(url).get_data(as_text=True)
    done = client.post(f"{url}/roles/{grant.id}/revoke", data={"reason": REASON,
                                                               "csrf_token": token(client, csrf_token, url)})
    assert done.status_code == 303
    db_session.refresh(person)
    assert not person.has_role(Role.HR_AUDITOR)


def test_a_post_without_the_csrf_token_changes_nothing(client, login, admin, make_user, db_session):
    person = make_user()
    login(admin)
    response = client.post(f"/admin/people/{person.id}/disable", data={"reason": REASON})
    assert response.status_code in (200, 400)
    db_session.refresh(person)
    assert person.is_active_account


def test_the_audit_log_filters_and_exports_what_it_shows(client, login, admin, make_user, csrf_token, db_session):
    person = make_user(real_name="日志中的人")
    login(admin)
    url = f"/admin/people/{person.id}"
    client.post(f"{url}/disable", data={"reason": "审计测试", "csrf_token": token(client, csrf_token, url)})
    query = f"action=user.disabled&target_type=User&target_id={person.id}"
    page = client.get(f"/admin/audit?{query}").get_data(as_text=True)
    assert "停用账号" in page and "日志中的人" in page and "审计测试" in page and "共 1 条" in page
    assert "共 0 条" in client.get(f"/admin/audit?{query}&since=2001-01-01&until=2001-01-02").get_data(as_text=True)
    bad = client.get("/admin/audit?since=2026-02-30")
    assert bad.status_code == 400 and "开始日期应为日期" in bad.get_data(as_text=True)

    exported = client.get(f"/admin/audit/export?format=csv&{query}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][1] == "后台管理员" and rows[1][4] == "user.disabled"
    xlsx = client.get(f"/admin/audit/export?format=xlsx&{query}")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet.max_row == 2 and sheet["E2"].value == "user.disabled"
    assert db_session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "audit.exported",
                                                                      AuditEvent.actor_id == admin.id)) == 2
    wrong = client.get("/admin/audit/export?format=pdf")
    assert wrong.status_code == 303


def test_sessions_of_a_disabled_person_are_ended_in_the_database(client, login, admin, make_user, csrf_token,
                                                                 db_session):
    person = make_user()
    login(admin)
    url = f"/admin/people/{person.id}"
    client.post(f"{url}/disable", data={"reason": REASON, "csrf_token": token(client, csrf_token, url)})
    live = db_session.scalar(select(func.count(UserSession.id)).where(UserSession.user_id == person.id,
                                                                       UserSession.revoked_at.is_(None)))
    assert live == 0


def test_an_admin_gives_a_learner_their_exam_attempts_back(app, client, login, admin, make_user, csrf_token,
                                                          db_session):
    from lms.learning import exam
    from lms.learning import services as learning
    from tests.learning_helpers import Clock, course, study_all_lessons

    learner = make_user(real_name="补考学员")
    with app.test_request_context():
        c = course(db_session)
        enrollment = learning.enroll(learner, c.code)
        tick = Clock()
        study_all_lessons(learner.id, c, tick)
        allowed = exam.exam_rules(learner, c).attempts
        with tick():
            for _n in range(allowed):
                exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        db_session.commit()
    login(admin)
    url = f"/admin/people/{learner.id}"
    page = client.get(url).get_data(as_text=True)
    assert f"已计入 {allowed} / {allowed} 次" in page and "重置测验次数" in page
    refused = client.post(f"{url}/exams/{enrollment.id}/reset", data={"reason": "", "csrf_token": csrf_token(page)})
    assert refused.status_code == 400 and f'id="reason-exam-{enrollment.id}-err"' in refused.get_data(as_text=True)
    done = client.post(f"{url}/exams/{enrollment.id}/reset",
                       data={"reason": "考试时系统故障", "csrf_token": csrf_token(page)})
    assert done.status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert f"已重置 {allowed} 次测验" in page and f"已计入 0 / {allowed} 次" in page
    with app.test_request_context():
        assert exam.attempts_left(learner, enrollment) == allowed
