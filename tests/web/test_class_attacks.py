"""Seminars and classes attacked over HTTP, on a real gunicorn server (two workers, eight threads
each, so requests really run at once) on a committed database (SQLite, or PostgreSQL with
LMS_TEST_DATABASE=postgresql), as an outsider and as every role: one code scanned at once and again
by one learner, codes of another session or programme, tampered, forged, expired or from the
future, scans outside the window or by learners not accepted, hand entries by the host of another
base and in parallel, applications and selections in parallel, every id in the URLs, and odd input.
Every race is judged by the rows in the database, not by the answers."""

import os
from datetime import UTC, timedelta
from decimal import Decimal

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from lms.core.clock import utcnow_naive
from tests.app_process import served_by_gunicorn
from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app
from tests.http_site import HttpSite, csrf, in_parallel

PUBLIC = "https://lms.example.gov.cn"
SETTINGS = {"LMS_LOGIN_RATE_LIMIT": "100000 per minute", "LMS_PROXY_FIX": True, "LMS_PUBLIC_URL": PUBLIC,
            "LMS_SECURE_COOKIES": False,
            "LMS_JOBS_IMMEDIATE": False}
STATEMENT = "我在基层单位从事专业技术工作，希望系统学习本领域的新知识。"
SELECT_ROUNDS = 4


class Site(HttpSite):
    """The site and the classes' world: codes, attendances and ledger entries by name."""

    def token(self, session_key, at=None):
        from lms.classes import services
        from lms.classes.models import ClassSession
        from lms.extensions import db

        with self.app.app_context():
            return services.issue_token(db.session.get(ClassSession, self.ids[session_key]), at)

    def attendances(self, session_key=None, who=None):
        from lms.classes.models import ClassAttendance

        query = select(func.count()).select_from(ClassAttendance)
        if session_key is not None:
            query = query.where(ClassAttendance.session_id == self.ids[session_key])
        if who is not None:
            query = query.where(ClassAttendance.user_id == self.people[who]["id"])
        return self.scalar(query)

    def entries(self, who):
        """The learner's ledger entries from attendance: (count, hours)."""
        from lms.credits.models import CreditRecord

        count, hours = self.rows(select(func.count(), func.coalesce(func.sum(CreditRecord.hours), 0)).where(
            CreditRecord.user_id == self.people[who]["id"], CreditRecord.source_type == "class_attendance"))[0]
        return count, Decimal(hours)


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the server commits, and this module reads what it did."""
    yield None


def _people(base_a, base_b):
    from lms.accounts import services as accounts
    from lms.accounts.models import Role

    people, users = {}, {}
    names = ["host1", "host2", "unit", "auditor", "a", "b", "c", "d", "e", "x", "y", "junior",
             *(f"p{n}" for n in range(8)), *(f"s{n}" for n in range(6))]
    grants = {"host1": dict(role=Role.BASE_ADMIN, organization=base_a),
              "host2": dict(role=Role.BASE_ADMIN, organization=base_b),
              "auditor": dict(role=Role.HR_AUDITOR, region_code="110000")}
    for n, name in enumerate(names, start=1):
        data = accounts.PersonData(
            real_name=f"学员{name}", id_number=id_number(f"32010219900101{n:03d}"), password=TEST_PASSWORD,
            mobile=f"1390000{n:04d}", email=None, region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91320102MA1WXYU0" + str(n % 10)))
        user = accounts.create_person(None, data, roles=())
        grant = grants.get(name) or (dict(role=Role.UNIT_ADMIN, organization=user.employer) if name == "unit"
                                     else dict(role=Role.LEARNER))
        accounts.grant_role(None, user, grant.pop("role"), **grant)
        user.title_level = "junior" if name == "junior" else "intermediate"
        users[name] = user
        people[name] = {"id": user.id, "mobile": user.mobile}
    return people, users


def _build_world(app):
    """Two hosts (two bases), learners, a unit admin, an HR auditor; programmes with sessions whose
    windows are around the real time (the server runs on the real clock)."""
    from lms.accounts import services as accounts
    from lms.accounts.models import OrgKind, Role
    from lms.classes import services as classes
    from lms.classes.models import ClassSession
    from lms.extensions import db

    ids = {}
    base_a = accounts.get_or_create_organization("北京研修基地", OrgKind.PUBLISHER)
    base_b = accounts.get_or_create_organization("广东培训机构", OrgKind.PUBLISHER)
    db.session.flush()
    people, users = _people(base_a, base_b)
    db.session.flush()
    host1, host2 = users["host1"], users["host2"]
    today = utcnow_naive().date()

    def programme(actor, base, key, quota=2, percent=100):
        made = classes.create_programme(actor, classes.ProgrammeData(
            organization_id=base.id, kind="seminar", title=f"研修项目{key}", domain="人工智能", place="北京市海淀区",
            starts_on=today - timedelta(days=2), ends_on=today + timedelta(days=2), category="professional",
            quota=quota, min_title_level="intermediate", required_percent=percent,
            description="面向中级以上职称的专业技术人员。"))
        ids[key] = made.id
        return made

    def session(made, key, starts, ends, hours="3"):
        now = utcnow_naive().replace(microsecond=0)
        row = ClassSession(programme_id=made.id, title=f"课次{key}", starts_at=now + starts, ends_at=now + ends,
                           hours=Decimal(hours))
        db.session.add(row)
        db.session.flush()
        ids[key] = row.id

    def accept(made, learners, declined=()):
        apps = {u: classes.apply(users[u], made.id, statement=STATEMENT, groups=[]) for u in (*learners, *declined)}
        classes.select_applicants(made.organization_id == base_a.id and host1 or host2, made.id,
                                  [apps[u].id for u in learners])
        for u, application in apps.items():
            ids[f"app:{made.id}:{u}"] = application.id

    hour = timedelta(hours=1)
    p1 = programme(host1, base_a, "P1", quota=4)
    session(p1, "S1", -hour, 3 * hour)
    session(p1, "S2past", -5 * hour, -3 * hour)
    session(p1, "S3future", 3 * hour, 5 * hour)
    session(p1, "S4", -2.5 * hour, -1.5 * hour, hours="1")
    accept(p1, ["a", "b", "x", "y"], declined=["c"])
    # x, accepted, is made an administrator of the host base afterwards.
    accounts.grant_role(None, users["x"], Role.BASE_ADMIN, organization=base_a)
    # Both sessions needed: the scans of the last one and the hand entries of the other at once must
    # issue one certificate.
    p3 = programme(host1, base_a, "P3", percent=100)
    session(p3, "C1", -4 * hour, -3 * hour, hours="1")
    session(p3, "C2", -hour, 3 * hour, hours="2.5")
    accept(p3, ["e"])
    # Credited per programme (the learner's region's rule set): the last two sessions at once.
    from lms.credits.models import RuleSet

    rule = db.session.scalar(select(RuleSet).where(RuleSet.region_code == "120000"))
    if rule is None:
        rule = RuleSet(name="天津市继续教育学时规则", region_code="120000")
        db.session.add(rule)
    rule.class_credit = "programme"
    t = accounts.create_person(None, accounts.PersonData(
        real_name="学员t", id_number=id_number("12010119900101001"), password=TEST_PASSWORD, mobile="13900009901",
        email=None, region_code="120000", employer_name="测试单位",
        employer_credit_code=credit_code("91120101MA1WXYU01")), roles=())
    accounts.grant_role(None, t, Role.LEARNER)
    t.title_level = "intermediate"
    users["t"], people["t"] = t, {"id": t.id, "mobile": t.mobile}
    p5 = programme(host1, base_a, "P5", percent=100)
    session(p5, "T1", -4 * hour, -3 * hour, hours="1")
    session(p5, "T2", -hour, 3 * hour, hours="2.5")
    accept(p5, ["t"])
    # Another base's programme.
    p4 = programme(host2, base_b, "P4", quota=3)
    session(p4, "O1", -hour, 3 * hour)
    accept(p4, ["a", "d", "y"])
    # Open programmes for the races of applying and selecting.
    programme(host1, base_a, "APPLY", quota=5)
    for n in range(SELECT_ROUNDS):
        made = programme(host1, base_a, f"SEL{n}", quota=2)
        for u in (f"s{k}" for k in range(6)):
            ids[f"app:{made.id}:{u}"] = classes.apply(users[u], made.id, statement=STATEMENT, groups=[]).id
    for n in range(SELECT_ROUNDS):
        made = programme(host1, base_a, f"LATE{n}", quota=2)
        for u in ("s0", "s1"):
            ids[f"app:{made.id}:{u}"] = classes.apply(users[u], made.id, statement=STATEMENT, groups=[]).id
    return people, ids


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from lms.extensions import db

    tmp_path = tmp_path_factory.mktemp("class_attacks")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    with fresh_database(tmp_path, "class_attacks") as url:
        app = make_test_app(url, tmp_path, **SETTINGS)
        build_database(app)
        with app.test_request_context():
            people, ids = _build_world(app)
            db.session.commit()
            db.engine.dispose()
        try:
            with served_by_gunicorn({"database_url": url, **SETTINGS}, tmp_path) as served:
                yield Site(served.base, app, people, ids)
                assert "Traceback" not in served.log.read_text(), served.log.read_text()[-4000:]
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance
            with app.app_context():
                db.engine.dispose()


def scan(site, who, session_key, token):
    """Open the code's page as the phone does, then sign in with its button."""
    path = f"/classes/sessions/{site.ids[session_key]}/attend"
    with site.client(who) as client:
        page = client.get(path, params={"t": token})
        form = csrf(page.text) if 'id="attend-button"' in page.text else csrf(client.get("/profile").text)
        return client.post(path, data={"token": token, "csrf_token": form})


# ---------------------------------------------------------------- the rotating code

def scan_and_enter_at_once(site, who, *, scanned, entered, times=24):
    """``who`` scans the code of the session ``scanned`` while host1 enters them by hand at the
    session ``entered``, ``times`` posts in all, at once; every answer is a success or a redirect."""
    token = site.token(scanned)
    scan_path = f"/classes/sessions/{site.ids[scanned]}/attend"
    with site.client(who) as client:
        scan_form = csrf(client.get(scan_path, params={"t": token}).text)
    with site.client("host1") as client:
        hand_form = csrf(client.get(f"/classes/sessions/{site.ids[entered]}/screen").text)

    def post(n):
        if n % 2:
            with site.client(who) as client:
                return client.post(scan_path, data={"token": token, "csrf_token": scan_form}).status_code
        with site.client("host1") as client:
            return client.post(f"/classes/sessions/{site.ids[entered]}/attendance", data={
                "learner": str(site.people[who]["id"]), "reason": "现场核对身份后补录",
                "csrf_token": hand_form}).status_code

    assert set(in_parallel(post, range(times))) <= {200, 303}


def test_one_code_scanned_at_once_and_again_by_one_learner_records_and_credits_once(site):
    token = site.token("S1")
    path = f"/classes/sessions/{site.ids['S1']}/attend"
    with site.client("a") as client:
        form = csrf(client.get(path, params={"t": token}).text)
    cookies = site._cookies["a"]

    def post(_n):
        with httpx.Client(base_url=site.base, timeout=60, cookies=cookies) as client:
            return client.post(path, data={"token": token, "csrf_token": form}).status_code

    statuses = in_parallel(post, range(24))
    assert set(statuses) == {200}, statuses
    assert site.attendances("S1", "a") == 1
    assert site.entries("a") == (1, Decimal(3))
    again = scan(site, "a", "S1", token)  # the same code replayed
    assert again.status_code == 200 and "不重复记学时" in again.text
    assert site.attendances("S1", "a") == 1 and site.entries("a") == (1, Decimal(3))
    assert site.events("class.attendance_scan") >= 1


def bad_tokens(site):
    live = site.token("S1")
    # The signature's first character: all six of its bits count (the last one's lowest bits are
    # padding, so flipping it to a neighbour can leave the signature as it was).
    payload, signature = live.rsplit(".", 1)
    signature_flipped = f"{payload}.{'B' if signature[0] != 'B' else 'C'}{signature[1:]}"
    with site.app.app_context():
        other_key = URLSafeSerializer("not-the-secret", salt="lms-class-attendance").dumps([site.ids["S1"], 0])
        now = utcnow_naive()
    return {
        "another session of the programme": site.token("S4"),
        "a session of another programme": site.token("O1"),
        "a tampered signature": signature_flipped,
        "a payload naming another slot under this signature": URLSafeSerializer("x").dump_payload(
            [site.ids["S1"], 0]).decode() + "." + live.split(".")[1],
        "another key": other_key,
        "expired (40 s old)": site.token("S1", (now - timedelta(seconds=40)).replace(tzinfo=UTC)),
        "from the future": site.token("S1", (now + timedelta(seconds=90)).replace(tzinfo=UTC)),
        "empty": "",
        "garbage": "x" * 5000,
        "look-alike characters": "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in live),
        "not a list": URLSafeSerializer("test-secret-key", salt="lms-class-attendance").dumps(
            {"session": site.ids["S1"]}),
    }


def test_codes_not_for_this_session_now_are_refused_and_record_nothing(site):
    before = site.attendances()
    for name, token in bad_tokens(site).items():
        for who in ("b", "a"):
            response = scan(site, who, "S1", token)
            assert response.status_code == 400, (name, response.status_code)
            assert "签到码" in response.text, name
    assert site.attendances("S1", "b") == 0 and site.attendances() == before


def test_scans_outside_the_window_or_by_learners_not_accepted_are_refused(site):
    before = site.attendances()
    for key in ("S2past", "S3future"):
        response = scan(site, "b", key, site.token(key))
        assert response.status_code == 400 and ("结束" in response.text or "还没有开始" in response.text)
    token = site.token("S1")
    for who in ("c", "d", "host1", "host2", "unit", "auditor"):  # declined, never applied, the hosts, others
        response = scan(site, who, "S1", token)
        assert response.status_code == 403, (who, response.status_code)
    # Accepted elsewhere (another base's programme) is not accepted here.
    assert scan(site, "d", "S1", token).status_code == 403
    with site.client() as anonymous:
        response = anonymous.post(f"/classes/sessions/{site.ids['S1']}/attend", data={"token": token})
        assert response.status_code in (302, 400, 401)
    assert site.attendances() == before
    assert site.entries("c") == (0, 0) and site.entries("d") == (0, 0)


def test_opening_the_code_records_nothing_and_a_cross_site_post_is_refused(site):
    """The QR code's page only offers the button (a link preview or a prefetch signs nobody in), and a
    scan posted from another site (no form token) records nothing."""
    token = site.token("S1")
    path = f"/classes/sessions/{site.ids['S1']}/attend"
    with site.client("b") as client:
        assert client.get(path, params={"t": token}).status_code == 200
        forged = client.post(path, data={"token": token}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 400
    assert site.attendances("S1", "b") == 0


def test_the_last_session_scanned_and_entered_at_once_issues_one_certificate(site):
    """The learner scans the live session while the host enters the earlier one by hand, many times
    at once: each is recorded once, and one certificate carries both sessions' hours."""
    from lms.certificates.models import Certificate

    scan_and_enter_at_once(site, "e", scanned="C2", entered="C1")
    assert site.attendances("C1", "e") == 1 and site.attendances("C2", "e") == 1
    assert site.entries("e") == (2, Decimal("3.5"))
    certificates = site.rows(select(Certificate.hours).where(Certificate.user_id == site.people["e"]["id"],
                                                              Certificate.kind == "programme"))
    assert [Decimal(h) for (h,) in certificates] == [Decimal("3.5")]


def test_a_programme_credited_per_programme_enters_its_hours_once_when_its_last_sessions_come_at_once(site):
    """Under a rule set crediting per programme: the learner scans the live session while the host
    enters the earlier one by hand, many times at once; the sessions credit nothing of their own, and
    the programme's one entry carries its hours, with one certificate."""
    from lms.certificates.models import Certificate
    from lms.credits.models import CreditRecord

    scan_and_enter_at_once(site, "t", scanned="T2", entered="T1")
    assert site.attendances("T1", "t") == 1 and site.attendances("T2", "t") == 1
    assert site.entries("t") == (0, Decimal(0))  # no entry per session
    rows = site.rows(select(CreditRecord.source_id, CreditRecord.hours).where(
        CreditRecord.user_id == site.people["t"]["id"], CreditRecord.source_type == "class_programme"))
    assert [(source, Decimal(hours)) for source, hours in rows] == [
        (f"{site.ids['P5']}:{site.people['t']['id']}", Decimal("3.5"))]
    certificates = site.rows(select(Certificate.hours).where(Certificate.user_id == site.people["t"]["id"],
                                                              Certificate.kind == "programme"))
    assert [Decimal(h) for (h,) in certificates] == [Decimal("3.5")]


def test_one_learner_is_credited_for_one_room_at_a_time(site):
    """a is accepted in two bases' programmes whose sessions overlap: a code of the other one, relayed
    to the same phone, credits nothing for the hour already credited."""
    assert scan(site, "a", "S1", site.token("S1")).status_code == 200
    before = site.entries("a")
    response = scan(site, "a", "O1", site.token("O1"))
    assert response.status_code == 409 and "同一时间" in response.text
    assert site.attendances("O1", "a") == 0 and site.entries("a") == before


def test_two_rooms_scanned_at_once_credit_one(site):
    """y is accepted in both bases' overlapping sessions and scans both codes at once, many times."""
    tokens = {"S1": site.token("S1"), "O1": site.token("O1")}
    forms = {}
    with site.client("y") as client:
        for key, token in tokens.items():
            forms[key] = csrf(client.get(f"/classes/sessions/{site.ids[key]}/attend", params={"t": token}).text)

    def post(n):
        key = ("S1", "O1")[n % 2]
        with site.client("y") as client:
            return client.post(f"/classes/sessions/{site.ids[key]}/attend",
                               data={"token": tokens[key], "csrf_token": forms[key]}).status_code

    assert set(in_parallel(post, range(16))) <= {200, 409}
    assert site.attendances("S1", "y") + site.attendances("O1", "y") == 1
    count, hours = site.entries("y")
    assert count == 1 and hours == Decimal(3)


def test_a_host_does_not_enter_their_own_attendance(site):
    response = scan(site, "x", "S1", site.token("S1"))
    assert response.status_code == 403 and "主办方管理员不能为自己" in response.text
    assert hand_entry(site, "x", "S4", "x").status_code == 303  # refused in its flash
    assert site.attendances(who="x") == 0 and site.entries("x") == (0, 0)
    assert hand_entry(site, "host1", "S4", "x").status_code == 303  # another host of the base may
    assert site.attendances("S4", "x") == 1


# ---------------------------------------------------------------- hand entries

def hand_entry(site, who, session_key, learner, reason="手机没电，现场核对身份后补录"):
    screen = f"/classes/sessions/{site.ids[session_key]}/screen"
    with site.client(who) as client:
        page = client.get(screen)
        token = csrf(page.text) if page.status_code == 200 else csrf(client.get("/profile").text)
        return client.post(f"/classes/sessions/{site.ids[session_key]}/attendance",
                           data={"learner": str(site.people[learner]["id"]) if learner in site.people else learner,
                                 "reason": reason, "csrf_token": token})


def test_hand_entries_by_others_without_a_reason_or_for_learners_not_accepted_record_nothing(site):
    before = site.attendances()
    for who in ("host2", "a", "unit", "auditor"):
        assert hand_entry(site, who, "S4", "b").status_code == 403, who
    assert hand_entry(site, "host1", "O1", "a").status_code == 403  # another base's session
    for learner, reason in (("b", ""), ("b", " "), ("c", "手机没电"), ("d", "手机没电"), ("host2", "手机没电"),
                            ("99999999999", "手机没电"), ("abc", "手机没电"), ("b", "手机没电\x00"), ("b", "长" * 5000)):
        response = hand_entry(site, "host1", "S4", learner, reason)
        assert response.status_code in (303, 400), (learner, reason[:10], response.status_code)
    assert hand_entry(site, "host1", "S3future", "b").status_code == 303  # refused in its flash: not started
    assert site.attendances() == before


def test_one_learner_entered_by_hand_at_once_is_recorded_and_credited_once(site):
    screen = f"/classes/sessions/{site.ids['S4']}/screen"
    with site.client("host1") as client:
        token = csrf(client.get(screen).text)
    cookies = site._cookies["host1"]

    def post(_n):
        with httpx.Client(base_url=site.base, timeout=60, cookies=cookies) as client:
            return client.post(f"/classes/sessions/{site.ids['S4']}/attendance", data={
                "learner": str(site.people["b"]["id"]), "reason": "手机没电，现场核对身份后补录",
                "csrf_token": token}).status_code

    assert set(in_parallel(post, range(16))) == {303}
    assert site.attendances("S4", "b") == 1
    assert site.entries("b") == (1, Decimal(1))
    from lms.classes.models import ClassAttendance
    from lms.core.audit import AuditEvent
    attendance = site.scalar(select(ClassAttendance.id).where(ClassAttendance.session_id == site.ids["S4"],
                                                              ClassAttendance.user_id == site.people["b"]["id"]))
    assert site.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "class.attendance_manual", AuditEvent.target_id == str(attendance))) == 1


# ---------------------------------------------------------------- applying and selecting

def test_applying_many_times_at_once_makes_one_application(site):
    from lms.classes.models import ClassApplication

    path = f"/classes/{site.ids['APPLY']}"
    forms = {}
    for n in range(8):
        with site.client(f"p{n}") as client:
            forms[n] = csrf(client.get(path).text)

    def post(job):
        n, _k = job
        with site.client(f"p{n}") as client:
            return client.post(f"{path}/apply", data={"statement": STATEMENT, "groups": ["border"],
                                                      "csrf_token": forms[n]}).status_code

    statuses = in_parallel(post, [(n, k) for n in range(8) for k in range(4)])
    assert set(statuses) <= {303, 409}, statuses
    rows = site.rows(select(ClassApplication.user_id, func.count()).where(
        ClassApplication.programme_id == site.ids["APPLY"]).group_by(ClassApplication.user_id))
    assert sorted(c for _u, c in rows) == [1] * 8


@pytest.mark.parametrize("round_", range(SELECT_ROUNDS))
def test_two_selections_at_once_one_wins_and_the_quota_holds(site, round_):
    """Two hosts' tabs submit different selections at once: one is saved, the other is refused (the
    programme is no longer open); the quota holds and nobody accepted by one is declined by the other."""
    from lms.classes.models import ClassApplication

    key = f"SEL{round_}"
    programme = site.ids[key]
    manage = f"/classes/{programme}/manage"
    with site.client("host1") as client:
        token = csrf(client.get(manage).text)
    choices = [[site.ids[f"app:{programme}:s{k}"] for k in pair] for pair in ((0, 1), (2, 3), (4, 5), (1, 2))]

    def post(chosen):
        with site.client("host1") as client:
            return client.post(f"/classes/{programme}/select",
                               data={"applications": chosen, "csrf_token": token}).status_code

    statuses = in_parallel(post, choices * 2, workers=8)
    # The others are refused: 409, or 400 when the page no longer offers the applications chosen.
    assert statuses.count(303) == 1 and set(statuses) <= {303, 400, 409}, statuses
    rows = site.rows(select(ClassApplication.id, ClassApplication.status).where(
        ClassApplication.programme_id == programme))
    accepted = sorted(i for i, s in rows if s == "accepted")
    assert accepted in [sorted(c) for c in choices]
    from lms.core.audit import AuditEvent
    assert site.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "class.selected", AuditEvent.target_id == str(programme))) == 1


@pytest.mark.parametrize("round_", range(SELECT_ROUNDS))
def test_no_application_slips_in_while_the_host_selects(site, round_):
    """Learners apply while the host selects: each application is either decided by the selection or
    refused; none is left waiting in a programme that takes no more applications."""
    from lms.classes.models import ClassApplication, ClassProgramme

    programme = site.ids[f"LATE{round_}"]
    path, manage = f"/classes/{programme}", f"/classes/{programme}/manage"
    with site.client("host1") as client:
        host_form = csrf(client.get(manage).text)
    forms = {}
    for n in range(8):
        with site.client(f"p{n}") as client:
            forms[n] = csrf(client.get(path).text)
    chosen = [site.ids[f"app:{programme}:s0"], site.ids[f"app:{programme}:s1"]]

    def post(n):
        k = n if n < 4 else n - 1  # the learner; the host's request goes in the middle
        who = "host1" if n == 4 else f"p{k}"
        with site.client(who) as client:
            if who == "host1":
                return client.post(f"{path}/select", data={"applications": chosen, "csrf_token": host_form}).status_code
            return client.post(f"{path}/apply", data={"statement": STATEMENT, "csrf_token": forms[k]}).status_code

    statuses = in_parallel(post, range(9), workers=9)
    assert statuses[4] == 303 and set(statuses) <= {303, 409}, statuses
    assert site.scalar(select(ClassProgramme.status).where(ClassProgramme.id == programme)) == "selected"
    rows = site.rows(select(ClassApplication.user_id, ClassApplication.status, ClassApplication.created_at,
                             ClassApplication.decided_at).where(ClassApplication.programme_id == programme))
    assert [r for r in rows if r.status == "applied"] == [], (statuses, rows)


def test_an_ineligible_learner_posting_directly_is_refused(site):
    from lms.classes.models import ClassApplication

    path = f"/classes/{site.ids['APPLY']}"
    with site.client("junior") as client:
        page = client.get(path).text
        assert "本项目要求中级及以上职称" in page and 'name="statement"' not in page
        response = client.post(f"{path}/apply", data={"statement": STATEMENT, "groups": ["border"],
                                                      "csrf_token": csrf(client.get("/profile").text)})
    assert response.status_code == 403
    assert site.scalar(select(func.count()).select_from(ClassApplication).where(
        ClassApplication.user_id == site.people["junior"]["id"])) == 0


def test_a_host_creates_no_programme_for_another_base(site):
    from lms.accounts.models import Organization
    from lms.classes.models import ClassProgramme

    other = site.scalar(select(Organization.id).where(Organization.name == "广东培训机构"))
    before = site.scalar(select(func.count()).select_from(ClassProgramme))
    with site.client("host1") as client:
        token = csrf(client.get("/classes/manage").text)
        response = client.post("/classes/manage", data={**_programme_form(site, organization_id=str(other)),
                                                         "csrf_token": token})
    assert response.status_code == 400
    assert site.scalar(select(func.count()).select_from(ClassProgramme)) == before


@pytest.mark.parametrize("chosen", [["abc"], ["9223372036854775808"], ["-1"], ["1.5"], []])
def test_odd_selections_are_refused(site, chosen):
    from lms.classes.models import ClassApplication, ClassProgramme

    programme = site.ids["APPLY"]
    with site.client("host1") as client:
        token = csrf(client.get(f"/classes/{programme}/manage").text)
        response = client.post(f"/classes/{programme}/select", data={"applications": chosen, "csrf_token": token})
    assert response.status_code == 400, response.status_code
    assert site.scalar(select(ClassProgramme.status).where(ClassProgramme.id == programme)) == "open"
    assert site.scalar(select(func.count()).select_from(ClassApplication).where(
        ClassApplication.programme_id == programme, ClassApplication.status != "applied")) == 0


def test_selecting_an_application_of_another_programme_is_refused(site):
    programme = site.ids["P1"]
    with site.client("host1") as client:
        token = csrf(client.get(f"/classes/{site.ids['APPLY']}/manage").text)
        foreign = site.ids[f"app:{site.ids['P4']}:d"]
        for target in (site.ids["APPLY"], programme):
            response = client.post(f"/classes/{target}/select", data={"applications": [foreign], "csrf_token": token})
            assert response.status_code in (400, 409)
    from lms.classes.models import ClassApplication
    assert site.scalar(select(ClassApplication.status).where(ClassApplication.id == foreign)) == "accepted"


# ---------------------------------------------------------------- every id in the URLs, every role

def test_no_one_but_the_host_reaches_a_programmes_management(site):
    p1, s1 = site.ids["P1"], site.ids["S1"]
    gets = [f"/classes/{p1}/manage", f"/classes/sessions/{s1}/screen", f"/classes/sessions/{s1}/code"]
    posts = [(f"/classes/{p1}/sessions", {"title": "加一课", "day": str(utcnow_naive().date()), "starts": "09:00",
                                          "ends": "10:00", "hours": "1"}),
             (f"/classes/{p1}/select", {"applications": [site.ids[f"app:{p1}:c"]]}),
             (f"/classes/sessions/{s1}/attendance", {"learner": str(site.people["b"]["id"]), "reason": "补录"})]
    from lms.classes.models import ClassSession

    sessions_before = site.scalar(select(func.count()).select_from(ClassSession))
    for who in ("host2", "a", "c", "unit", "auditor"):
        with site.client(who) as client:
            for path in gets:
                assert client.get(path).status_code == 403, (who, path)
            token = csrf(client.get("/profile").text)
            for path, data in posts:
                assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, (who, path)
    with site.client() as anonymous:
        for path in gets:
            assert anonymous.get(path).status_code in (302, 401), path
    assert site.scalar(select(func.count()).select_from(ClassSession)) == sessions_before
    assert site.attendances("S1", "b") == 0


@pytest.mark.parametrize("path", [
    "/classes/99999999999", "/classes/9223372036854775808", "/classes/0", "/classes/-1", "/classes/abc",
    "/classes/99999999999/manage", "/classes/sessions/99999999999/attend?t=x", "/classes/sessions/99999999999/screen",
    "/classes/sessions/99999999999/code", "/classes/1%00",
])
def test_odd_ids_are_not_found(site, path):
    with site.client("host1") as client:
        response = client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)


@pytest.mark.parametrize("path", [
    "/classes/99999999999/apply", "/classes/99999999999/select", "/classes/99999999999/sessions",
    "/classes/sessions/99999999999/attend", "/classes/sessions/99999999999/attendance",
])
def test_odd_ids_in_posts_are_not_found(site, path):
    with site.client("host1") as client:
        token = csrf(client.get("/profile").text)
        response = client.post(path, data={"csrf_token": token, "token": "x", "statement": STATEMENT})
    assert response.status_code in (400, 404), (path, response.status_code)


# ---------------------------------------------------------------- odd input

def _programme_form(site, **change):
    from lms.accounts.models import Organization

    today = utcnow_naive().date()
    org = site.scalar(select(Organization.id).where(Organization.name == "北京研修基地"))
    return {"organization_id": str(org), "kind": "class", "title": "面授培训班", "domain": "数据安全",
            "place": "北京市朝阳区", "starts_on": str(today), "ends_on": str(today + timedelta(days=1)),
            "category": "professional", "quota": "10", "min_title_level": "", "required_percent": "80",
            "description": "面向基层专业技术人员。", **change}


@pytest.mark.parametrize("change", [
    {"title": "面授\x00培训班"}, {"title": "长" * 100_000}, {"quota": "1e3"}, {"quota": "99999999999999999999"},
    {"quota": "-1"}, {"required_percent": "NaN"}, {"starts_on": "0001-01-01", "ends_on": "0001-01-02"},
    {"starts_on": "9999-12-31", "ends_on": "9999-12-31"}, {"starts_on": "2026-02-30"}, {"organization_id": "x"},
    {"organization_id": "99999999999"}, {"kind": "seminar\u200b"},
    {"description": "\u200b" * 20}, {"starts_on": "1900-01-01", "ends_on": "1900-01-02"}, {"title": "\u202e面"},
])
def test_odd_programme_input_is_refused_with_a_message_and_changes_nothing(site, change):
    from lms.classes.models import ClassProgramme

    before = site.scalar(select(func.count()).select_from(ClassProgramme))
    with site.client("host1") as client:
        token = csrf(client.get("/classes/manage").text)
        response = client.post("/classes/manage", data={**_programme_form(site, **change), "csrf_token": token})
    assert response.status_code == 400, (change, response.status_code)
    assert site.scalar(select(func.count()).select_from(ClassProgramme)) == before


def test_format_characters_never_reach_a_programmes_title(site):
    """A bidi override would show the title reversed to learners and on the certificate."""
    from lms.classes.models import ClassProgramme

    with site.client("host1") as client:
        token = csrf(client.get("/classes/manage").text)
        response = client.post("/classes/manage", data={
            **_programme_form(site, title="\u202e班训培授面\u200b", place="北京\u2066市\u2069"), "csrf_token": token})
    assert response.status_code == 303
    made = site.rows(select(ClassProgramme.title, ClassProgramme.place).order_by(ClassProgramme.id.desc()).limit(1))
    assert tuple(made[0]) == ("班训培授面", "北京市")


def test_a_session_at_the_time_of_another_of_the_programme_is_refused(site):
    from lms.classes.models import ClassSession
    from lms.core.clock import local_zone

    start = site.scalar(select(ClassSession.starts_at).where(ClassSession.id == site.ids["S1"]))
    with site.app.app_context():
        local = start.replace(tzinfo=UTC).astimezone(local_zone()) + timedelta(minutes=10)
    if local.date() != (local + timedelta(minutes=60)).date():
        pytest.skip("S1 crosses local midnight")
    before = site.scalar(select(func.count()).select_from(ClassSession))
    with site.client("host1") as client:
        token = csrf(client.get(f"/classes/{site.ids['P1']}/manage").text)
        response = client.post(f"/classes/{site.ids['P1']}/sessions", data={
            "title": "同时的一课", "day": str(local.date()), "starts": local.strftime("%H:%M"),
            "ends": (local + timedelta(minutes=60)).strftime("%H:%M"), "hours": "1", "csrf_token": token})
    assert response.status_code == 400 and "时间重叠" in response.text
    assert site.scalar(select(func.count()).select_from(ClassSession)) == before


@pytest.mark.parametrize("change", [
    {"day": "0001-01-01"}, {"day": "9999-12-31", "starts": "23:00", "ends": "23:30"}, {"starts": "25:00"},
    {"starts": "09:00\x00"}, {"hours": "1e1"}, {"hours": "Infinity"}, {"hours": "0.05"}, {"hours": "99"},
    {"title": "x" * 10_000}, {"starts": "09:00", "ends": "09:30", "hours": "12"},
])
def test_odd_session_input_is_refused_with_a_message_and_changes_nothing(site, change):
    from lms.classes.models import ClassSession

    before = site.scalar(select(func.count()).select_from(ClassSession))
    p1 = site.ids["P1"]
    data = {"title": "加一课", "day": str(utcnow_naive().date()), "starts": "09:00", "ends": "10:00", "hours": "1",
            **change}
    with site.client("host1") as client:
        token = csrf(client.get(f"/classes/{p1}/manage").text)
        response = client.post(f"/classes/{p1}/sessions", data={**data, "csrf_token": token})
    assert response.status_code == 400, (change, response.status_code)
    assert site.scalar(select(func.count()).select_from(ClassSession)) == before


@pytest.mark.parametrize("data", [
    {"statement": "理由\x00" * 10}, {"statement": "长" * 100_000}, {"statement": STATEMENT, "groups": ["royalty"]},
    {"statement": "\u200b" * 30},
])
def test_odd_applications_are_refused_and_change_nothing(site, data):
    from lms.classes.models import ClassApplication

    before = site.scalar(select(func.count()).select_from(ClassApplication))
    path = f"/classes/{site.ids['APPLY']}"
    with site.client("s0") as client:  # s0 has not applied to this programme
        token = csrf(client.get(path).text)
        response = client.post(f"{path}/apply", data={**data, "csrf_token": token})
    assert response.status_code == 400, (data, response.status_code)
    assert site.scalar(select(func.count()).select_from(ClassApplication)) == before


# ---------------------------------------------------------------- totals

def test_hours_from_programmes_never_exceed_the_attended_sessions_hours(site):
    """Last: after everything above, each learner's ledger holds from classes exactly the hours of the
    sessions attended: one entry per attendance where the rule credits per session, one entry per
    programme where it credits per programme (learner t), and nothing else."""
    from lms.classes.models import ClassAttendance, ClassSession
    from lms.credits.models import CreditRecord

    rows = site.rows(select(ClassAttendance.user_id, func.count(), func.sum(ClassSession.hours))
                      .join(ClassSession, ClassSession.id == ClassAttendance.session_id)
                      .group_by(ClassAttendance.user_id))
    attended = {u: (c, Decimal(h)) for u, c, h in rows}
    per_programme = site.people["t"]["id"]
    rows = site.rows(select(CreditRecord.user_id, CreditRecord.source_type, func.count(),
                             func.sum(CreditRecord.hours))
                      .where(CreditRecord.source_type.in_(("class_attendance", "class_programme")))
                      .group_by(CreditRecord.user_id, CreditRecord.source_type))
    credited = {(u, kind): (c, Decimal(h)) for u, kind, c, h in rows}
    assert {u for u, _kind in credited} == set(attended)
    for user, (count, hours) in attended.items():
        if user == per_programme:
            assert credited[(user, "class_programme")] == (1, hours)
            assert (user, "class_attendance") not in credited
        else:
            assert credited[(user, "class_attendance")] == (count, hours)
            assert (user, "class_programme") not in credited
    linked = site.scalar(select(func.count()).select_from(ClassAttendance).join(
        CreditRecord, CreditRecord.id == ClassAttendance.credit_record_id).where(
        CreditRecord.user_id == ClassAttendance.user_id, CreditRecord.source_id == func.cast(ClassAttendance.id,
                                                                                             CreditRecord.source_id.type)))
    assert linked == site.attendances() - site.attendances(who="t")  # t's attendances credit no entry
