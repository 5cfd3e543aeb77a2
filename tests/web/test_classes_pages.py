"""Seminar and class pages: the host creates a programme and its sessions, learners apply (eligibility by
the title level on the profile), the host selects within the quota, the attendance screen and its JSON,
the learner's scan page with a live, an expired and a forged code."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lms.classes import services as classes
from lms.classes.models import ClassApplication, ClassAttendance, ClassProgramme
from lms.core import clock
from lms.credits.models import CreditRecord
from tests.classes_helpers import IN_SESSION, host
from tests.conftest import TEST_PASSWORD, _csrf_token


def sign_in(client, user):
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def token_of(client, path="/profile"):
    return _csrf_token(client.get(path).get_data(as_text=True))


def count(db_session, model):
    return db_session.scalar(select(func.count()).select_from(model))


PROGRAMME = {"kind": "seminar", "title": "数据安全高级研修班", "domain": "数据安全", "place": "北京市朝阳区",
             "starts_on": "2026-06-10", "ends_on": "2026-06-12", "category": "professional", "quota": "1",
             "min_title_level": "intermediate", "required_percent": "100", "description": "面向中级以上职称人员。"}


@pytest.fixture
def setup(app, db_session, make_user, client_factory):
    with app.test_request_context():
        actor, organization = host(make_user, db_session)
    people = {"host": actor, "org": organization,
              "a": make_user(real_name="甲学员"), "b": make_user(real_name="乙学员")}
    clients = {name: client_factory() for name in ("host", "a", "b")}
    for name, c in clients.items():
        sign_in(c, people[name])
    return people, clients


def create_programme(clients, people, **change):
    c = clients["host"]
    data = {**PROGRAMME, **change, "organization_id": str(people["org"].id), "csrf_token": token_of(c, "/classes/manage")}
    return c.post("/classes/manage", data=data)


def test_the_whole_path_through_the_pages(setup, db_session):
    people, clients = setup
    host_client, a, b = clients["host"], clients["a"], clients["b"]
    response = create_programme(clients, people)
    assert response.status_code == 303, response.get_data(as_text=True)
    programme = db_session.scalar(select(ClassProgramme))
    manage = f"/classes/{programme.id}/manage"
    response = host_client.post(f"/classes/{programme.id}/sessions", data={
        "title": "第一讲 数据分类分级", "day": "2026-06-10", "starts": "09:00", "ends": "12:00", "hours": "3",
        "csrf_token": token_of(host_client, manage)})
    assert response.status_code == 303, response.get_data(as_text=True)

    # Eligibility: the title level on the profile.
    page = a.get(f"/classes/{programme.id}").get_data(as_text=True)
    assert "本项目要求中级及以上职称" in page and 'name="statement"' not in page
    for c, level in ((a, "intermediate"), (b, "senior")):
        assert c.post("/profile/title-level", data={"title_level": level, "csrf_token": token_of(c)}).status_code == 303
    assert "中级" in a.get("/profile").get_data(as_text=True)
    for c, groups in ((a, []), (b, ["border", "grassroots"])):
        response = c.post(f"/classes/{programme.id}/apply", data={
            "statement": "我在基层单位负责数据安全工作，希望系统学习。", "groups": groups,
            "csrf_token": token_of(c, f"/classes/{programme.id}")})
        assert response.status_code == 303, response.get_data(as_text=True)
    again = a.post(f"/classes/{programme.id}/apply", data={"statement": "再报一次名，看看会怎样。",
                                                           "csrf_token": token_of(a, f"/classes/{programme.id}")})
    assert again.status_code == 409 and count(db_session, ClassApplication) == 2

    # The ranked list shows the flags; the quota (1) holds.
    page = host_client.get(manage).get_data(as_text=True)
    assert page.index("乙学员") < page.index("甲学员") and "边疆地区" in page and "基层一线" in page
    ids = {a_.user.real_name: a_.id for a_ in db_session.scalars(select(ClassApplication))}
    too_many = host_client.post(f"/classes/{programme.id}/select", data={
        "applications": [ids["甲学员"], ids["乙学员"]], "csrf_token": token_of(host_client, manage)})
    assert too_many.status_code == 400 and "超过了名额" in too_many.get_data(as_text=True)
    assert {x.status for x in db_session.scalars(select(ClassApplication))} == {"applied"}
    assert host_client.post(f"/classes/{programme.id}/select", data={
        "applications": [ids["乙学员"]], "csrf_token": token_of(host_client, manage)}).status_code == 303
    assert "未录取" in a.get("/me/classes").get_data(as_text=True)
    assert "已录取" in b.get("/me/classes").get_data(as_text=True)

    # The screen and its JSON; the learner's scan.
    session = programme.sessions[0]
    with clock.freeze(IN_SESSION):
        screen = host_client.get(f"/classes/sessions/{session.id}/screen").get_data(as_text=True)
        assert 'src="data:image/png;base64,' in screen and "不能证明本人在场" in screen
        state = host_client.get(f"/classes/sessions/{session.id}/code").get_json()
        assert state["count"] == 0 and state["expected"] == 1 and state["qr"].startswith("data:image/png;base64,")
        with host_client.application.test_request_context():
            token = classes.issue_token(session)
        scan = f"/classes/sessions/{session.id}/attend?t={token}"
        page = b.get(scan)
        assert page.status_code == 200 and "确认签到" in page.get_data(as_text=True)
        csrf = _csrf_token(page.get_data(as_text=True))
        done = b.post(f"/classes/sessions/{session.id}/attend", data={"token": token, "csrf_token": csrf})
        assert done.status_code == 200 and "签到成功，已记入 3 学时" in done.get_data(as_text=True)
        again = b.post(f"/classes/sessions/{session.id}/attend", data={"token": token, "csrf_token": csrf})
        assert "不重复记学时" in again.get_data(as_text=True)
        assert host_client.get(f"/classes/sessions/{session.id}/code").get_json()["count"] == 1
        # 甲 was declined: refused, nothing recorded.
        refused = a.post(f"/classes/sessions/{session.id}/attend", data={"token": token, "csrf_token": csrf_of(a, scan)})
        assert refused.status_code == 403
    assert count(db_session, ClassAttendance) == 1
    mine = b.get("/me/classes").get_data(as_text=True)
    assert "扫码签到" in mine and "已达到结业的出勤要求" in mine
    hours = b.get("/me/hours/2026").get_data(as_text=True)
    assert "数据安全高级研修班" in hours and "高级研修" in hours


def csrf_of(c, path):
    return _csrf_token(c.get(path).get_data(as_text=True))


@pytest.fixture
def accepted_session(setup, app, db_session):
    people, clients = setup
    with app.test_request_context():
        programme = classes.create_programme(people["host"], classes.ProgrammeData(
            organization_id=people["org"].id, **PROGRAMME))
        sessions = [classes.add_session(people["host"], programme, classes.SessionData(
            title, day, "09:00", "12:00", "3")) for title, day in (("第一讲", "2026-06-10"), ("第二讲", "2026-06-11"))]
        people["b"].title_level = "senior"
        application = classes.apply(people["b"], programme.id, statement="我在基层单位工作，希望参加。", groups=[])
        classes.select_applicants(people["host"], programme.id, [application.id])
    db_session.commit()
    return sessions, clients["b"]


@pytest.mark.parametrize("case, message", [("expired", "已过期"), ("forged", "签到码无效"), ("other", "另一次课")])
def test_the_scan_page_refuses_bad_codes_saying_why(accepted_session, app, db_session, case, message):
    (session, second), b = accepted_session
    with app.test_request_context():
        token = classes.issue_token(second if case == "other" else session, IN_SESSION)
    at = IN_SESSION + timedelta(seconds=40) if case == "expired" else IN_SESSION  # a photo taken 40 s earlier
    if case == "forged":
        token = token[:-2] + ("xx" if not token.endswith("xx") else "yy")
    path = f"/classes/sessions/{session.id}/attend"
    before = count(db_session, CreditRecord)
    with clock.freeze(at):
        page = b.get(f"{path}?t={token}")
        assert page.status_code == 400 and message in page.get_data(as_text=True)
        assert "确认签到" not in page.get_data(as_text=True)
        posted = b.post(path, data={"token": token, "csrf_token": csrf_of(b, "/profile")})
        text = posted.get_data(as_text=True)
        assert posted.status_code == 400 and message in text and 'id="attend-result"' in text
    assert count(db_session, ClassAttendance) == 0 and count(db_session, CreditRecord) == before


def test_bad_programme_input_is_shown_on_the_form_and_creates_nothing(setup, db_session):
    people, clients = setup
    response = create_programme(clients, people, quota="0", title="数据安全研修")
    assert response.status_code == 400 and "名额应为 1–1000 之间的整数" in response.get_data(as_text=True)
    assert count(db_session, ClassProgramme) == 0
    learner_page = clients["a"].get("/classes/manage")
    assert learner_page.status_code == 403


def test_where_classes_are_credited_per_programme_the_pages_say_so(app, db_session, make_user, client_factory):
    from datetime import UTC

    from lms.credits import services as ledger
    from tests.classes_helpers import accepted, learner, programme_with_sessions

    with app.test_request_context():
        actor, organization = host(make_user, db_session)
        programme = programme_with_sessions(actor, organization)  # 3 sessions of 3 hours, 60 % completes it
        user = learner(make_user, real_name="丁学员")
        accepted(actor, programme, [user])
        ledger.rule_set_for(user).class_credit = "programme"
        db_session.commit()
    client = client_factory()
    sign_in(client, user)
    assert "本项目按结业计学时" in client.get("/me/classes").get_data(as_text=True)
    said = []
    for session in programme.sessions[:2]:
        at = session.starts_at.replace(tzinfo=UTC) + timedelta(minutes=30)
        with clock.freeze(at):
            with app.test_request_context():
                token = classes.issue_token(session)
            path = f"/classes/sessions/{session.id}/attend"
            done = client.post(path, data={"token": token, "csrf_token": csrf_of(client, f"{path}?t={token}")})
            said.append(done.get_data(as_text=True))
    assert "出勤达到项目要求的比例后，一次记入项目学时" in said[0] and "已记入" not in said[0]
    assert "出勤已达到项目要求，已记入本项目 9 学时" in said[1]
    mine = client.get("/me/classes").get_data(as_text=True)
    assert "本项目已记入 9 学时" in mine and "已计 3 学时" not in mine
