"""Seminars and classes: programmes, eligibility, ranked selection within the quota, the rotating
attendance code (forged, other session, expired, outside the window), hand entries, the ledger."""

from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lms.accounts import services as accounts
from lms.classes import services as classes
from lms.classes.models import ApplicationStatus, ClassAttendance, ProgrammeStatus
from lms.core import clock
from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput, NotAllowed
from lms.credits import services as ledger
from lms.credits.models import CreditOrigin, CreditRecord
from lms.exports import records
from lms.extensions import db
from tests.classes_helpers import (
    IN_SESSION,
    accepted,
    host,
    learner,
    programme_data,
    programme_with_sessions,
    session_data,
    token_at,
)


@pytest.fixture
def world(ctx, db_session, make_user):
    actor, organization = host(make_user, db_session)
    other_host, _other = host(make_user, db_session, name="广东培训机构")
    programme = programme_with_sessions(actor, organization)
    return {"host": actor, "org": organization, "other_host": other_host, "programme": programme,
            "a": learner(make_user, real_name="甲学员"), "b": learner(make_user, real_name="乙学员"),
            "c": learner(make_user, real_name="丙学员")}


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


def seminar_entries(user):
    return [r for r in ledger.active_records(user.id) if r.origin == CreditOrigin.SEMINAR]


# ---------------------------------------------------------------- programmes and sessions

def test_a_host_creates_a_programme_with_sessions_in_local_time(world):
    programme = world["programme"]
    assert programme.status == ProgrammeStatus.OPEN and programme.organization_id == world["org"].id
    assert [s.title for s in programme.sessions] == ["第1讲", "第2讲", "第3讲"]
    first = programme.sessions[0]
    assert (first.starts_at.hour, first.ends_at.hour) == (1, 4)  # 09:00–12:00 in Beijing, stored as UTC
    assert programme.total_hours == Decimal(9)


@pytest.mark.parametrize("change, field", [
    (dict(title="x"), "title"), (dict(ends_on="2026-06-01"), "ends_on"), (dict(quota="0"), "quota"),
    (dict(quota="abc"), "quota"), (dict(category="other"), "category"), (dict(kind="party"), "kind"),
    (dict(min_title_level="expert"), "min_title_level"), (dict(required_percent="120"), "required_percent"),
    (dict(starts_on="2026/06/10"), "starts_on"), (dict(organization_id="999999"), "organization_id"),
])
def test_bad_programme_input_is_refused_naming_the_field(world, db_session, change, field):
    before = count(db_session, type(world["programme"]))
    with pytest.raises(InvalidInput) as refused:
        classes.create_programme(world["host"], programme_data(world["org"], **change))
    assert refused.value.field == field
    assert count(db_session, type(world["programme"])) == before


def test_only_a_base_admin_hosts_and_only_their_own_programmes(world):
    with pytest.raises(NotAllowed):
        classes.create_programme(world["a"], programme_data(world["org"]))
    with pytest.raises(InvalidInput):  # another organization's host cannot host for this one
        classes.create_programme(world["other_host"], programme_data(world["org"]))
    with pytest.raises(NotAllowed):
        classes.programme_to_manage(world["other_host"], world["programme"].id)
    with pytest.raises(NotAllowed):
        classes.add_session(world["other_host"], world["programme"], session_data(9))


@pytest.mark.parametrize("change, field", [
    (dict(day="2026-07-01"), "day"), (dict(ends="08:00"), "ends"), (dict(starts="9点"), "starts"),
    (dict(hours="0"), "hours"), (dict(hours="1.25"), "hours"), (dict(hours="abc"), "hours"),
])
def test_bad_session_input_is_refused(world, change, field):
    values = dict(n=9)
    values.update(change)
    with pytest.raises(InvalidInput) as refused:
        classes.add_session(world["host"], world["programme"], session_data(**values))
    assert refused.value.field == field


# ---------------------------------------------------------------- applying and selecting

def test_eligibility_follows_the_title_level_on_the_profile(world, make_user):
    programme = world["programme"]  # 中级 and above
    nobody = learner(make_user, level=None)
    junior = learner(make_user, level="junior")
    senior = learner(make_user, level="senior")
    for user in (nobody, junior):
        with pytest.raises(NotAllowed) as refused:
            classes.apply(user, programme.id, statement="希望参加本次研修，提升专业能力。", groups=[])
        assert "中级" in refused.value.message
    application = classes.apply(senior, programme.id, statement="希望参加本次研修，提升专业能力。",
                                groups=["border", "old_base"])
    assert application.groups[0].value == "old_base" and application.title_level == "senior"
    with pytest.raises(Conflict):
        classes.apply(senior, programme.id, statement="再次报名，希望参加本次研修。", groups=[])
    with pytest.raises(NotAllowed):
        classes.apply(world["host"], programme.id, statement="主办方自己也想报名参加。", groups=[])
    with pytest.raises(InvalidInput):
        classes.apply(world["a"], programme.id, statement="太短", groups=[])
    with pytest.raises(InvalidInput):
        classes.apply(world["a"], programme.id, statement="希望参加本次研修，提升专业能力。", groups=["vip"])


def test_the_title_level_is_set_on_the_profile_and_audited(world, db_session):
    accounts.set_title_level(world["a"], "deputy_senior")
    assert world["a"].title_level == "deputy_senior"
    with pytest.raises(InvalidInput):
        accounts.set_title_level(world["a"], "professor")
    assert world["a"].title_level == "deputy_senior"
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "user.title_level")).detail["after"] \
        == "deputy_senior"


def test_the_ranked_list_puts_priority_groups_first_and_the_quota_holds(world, db_session):
    programme = world["programme"]  # quota 2
    plain = classes.apply(world["a"], programme.id, statement="我是城市医院的医生，希望参加。", groups=[])
    one = classes.apply(world["b"], programme.id, statement="我在民族地区的县医院工作。", groups=["ethnic"])
    two = classes.apply(world["c"], programme.id, statement="我在边疆基层卫生院工作。", groups=["border", "grassroots"])
    assert [a.id for a in classes.ranked_applications(programme)] == [two.id, one.id, plain.id]
    with pytest.raises(InvalidInput) as refused:
        classes.select_applicants(world["host"], programme.id, [plain.id, one.id, two.id])
    assert "名额" in refused.value.message
    assert programme.status == ProgrammeStatus.OPEN and plain.status == ApplicationStatus.APPLIED
    with pytest.raises(NotAllowed):
        classes.select_applicants(world["other_host"], programme.id, [one.id])
    classes.select_applicants(world["host"], programme.id, [one.id, two.id])
    assert [a.status for a in (plain, one, two)] == ["declined", "accepted", "accepted"]
    assert programme.status == ProgrammeStatus.SELECTED
    with pytest.raises(Conflict):
        classes.select_applicants(world["host"], programme.id, [plain.id])
    with pytest.raises(Conflict):  # no more applications once selected
        classes.apply(learner_of(world), programme.id, statement="选完之后才来报名的学员。", groups=[])
    assert [a.status for a in classes.my_applications(world["a"])] == ["declined"]


def learner_of(world):
    return world["host"]  # any signed-in person: the programme's state refuses first (Conflict)


# ---------------------------------------------------------------- attendance

@pytest.fixture
def enrolled(world):
    accepted(world["host"], world["programme"], [world["a"], world["b"]])
    return world["programme"].sessions[0]


def test_a_scan_with_a_live_code_records_attendance_and_credits_the_hours_once(world, enrolled, db_session):
    token = token_at(enrolled, IN_SESSION)
    with clock.freeze(IN_SESSION + timedelta(seconds=12)):
        first = classes.record_scan(world["a"], enrolled.id, token)
        again = classes.record_scan(world["a"], enrolled.id, token)  # a retried scan
    assert first.new and not again.new and again.attendance.id == first.attendance.id
    (entry,) = seminar_entries(world["a"])
    assert (entry.hours, entry.category, entry.course_id, entry.source_type, entry.source_id) == (
        Decimal(3), "professional", None, "class_attendance", str(first.attendance.id))
    assert entry.course_title == "人工智能高级研修班 / 第1讲"
    assert entry.completed_at.date() == enrolled.starts_at.date() and entry.credit_year == 2026
    assert first.attendance.credit_record_id == entry.id
    assert count(db_session, ClassAttendance) == 1
    assert classes.attendance_count(enrolled) == 1
    assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "class.attendance_scan")) == 1


def test_the_database_refuses_a_second_ledger_entry_for_one_attendance(world, enrolled, db_session):
    with clock.freeze(IN_SESSION + timedelta(seconds=12)):
        first = classes.record_scan(world["a"], enrolled.id, token_at(enrolled, IN_SESSION))
    nested = db_session.begin_nested()
    with pytest.raises(IntegrityError):
        ledger.record_activity(world["a"], origin=CreditOrigin.SEMINAR, title="再记一次", hours=Decimal(3),
                               category="professional", day=date(2026, 6, 10),
                               source=(classes.SOURCE_TYPE, str(first.attendance.id)))
    nested.rollback()
    assert len(seminar_entries(world["a"])) == 1


@pytest.mark.parametrize("case", ["expired", "forged", "other_session", "before", "after", "not_accepted"])
def test_refused_scans_say_why_and_record_nothing(world, enrolled, db_session, make_user, case):
    other = world["programme"].sessions[1]
    user = world["a"]
    at = IN_SESSION
    token = token_at(enrolled, IN_SESSION)
    if case == "expired":
        at = IN_SESSION + timedelta(seconds=40)  # a photo of the code taken 40 s earlier
    elif case == "forged":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "other_session":
        token = token_at(other, IN_SESSION)
    elif case == "before":
        at = enrolled.starts_at.replace(tzinfo=UTC) - timedelta(minutes=5)
        token = token_at(enrolled, at)
    elif case == "after":
        at = enrolled.ends_at.replace(tzinfo=UTC) + timedelta(minutes=5)
        token = token_at(enrolled, at)
    elif case == "not_accepted":
        user = world["c"]
    records_before = count(db_session, CreditRecord)
    with clock.freeze(at), pytest.raises((InvalidInput, NotAllowed)) as refused:
        classes.record_scan(user, enrolled.id, token)
    expected = {"expired": "已过期", "forged": "无效", "other_session": "另一次课", "before": "还没有开始",
                "after": "已经结束", "not_accepted": "录取"}[case]
    assert expected in refused.value.message
    assert count(db_session, ClassAttendance) == 0 and count(db_session, CreditRecord) == records_before


def test_a_code_is_good_for_thirty_seconds_from_its_slot_and_rotates_every_twenty(world, enrolled):
    slot_start = IN_SESSION  # 02:00:00 UTC is a slot boundary
    token = token_at(enrolled, slot_start + timedelta(seconds=5))
    assert token == token_at(enrolled, slot_start + timedelta(seconds=19))
    assert token != token_at(enrolled, slot_start + timedelta(seconds=20))
    with clock.freeze(slot_start + timedelta(seconds=30)):
        classes.check_token(enrolled.id, token)
    with clock.freeze(slot_start + timedelta(seconds=31)), pytest.raises(InvalidInput):
        classes.check_token(enrolled.id, token)


def test_the_host_records_by_hand_with_a_reason(world, enrolled, db_session):
    with clock.freeze(IN_SESSION):
        with pytest.raises(InvalidInput) as refused:
            classes.record_by_hand(world["host"], enrolled.id, world["b"].id, "")
        assert refused.value.field == "reason"
        with pytest.raises(InvalidInput):  # not an accepted learner
            classes.record_by_hand(world["host"], enrolled.id, world["c"].id, "手机没电，现场核对身份")
        with pytest.raises(NotAllowed):
            classes.record_by_hand(world["other_host"], enrolled.id, world["b"].id, "手机没电，现场核对身份")
        assert count(db_session, ClassAttendance) == 0
        recorded = classes.record_by_hand(world["host"], enrolled.id, world["b"].id, "手机没电，现场核对身份")
        with pytest.raises(Conflict):
            classes.record_by_hand(world["host"], enrolled.id, world["b"].id, "再补一次")
    assert recorded.attendance.method == "manual" and recorded.attendance.recorded_by_id == world["host"].id
    (entry,) = seminar_entries(world["b"])
    assert entry.entered_by_id == world["host"].id
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "class.attendance_manual"))
    assert event.actor_id == world["host"].id and event.detail["reason"] == "手机没电，现场核对身份"


def test_no_hand_entry_before_the_session_begins(world, enrolled):
    with clock.freeze(enrolled.starts_at.replace(tzinfo=UTC) - timedelta(hours=1)), \
            pytest.raises(InvalidInput):
        classes.record_by_hand(world["host"], enrolled.id, world["b"].id, "提前补录")


def test_completion_counts_the_share_of_sessions_attended(world):
    programme = world["programme"]  # 3 sessions, 60 %
    assert [classes.completed(programme, n) for n in range(4)] == [False, False, True, True]


def test_exports_and_the_hr_api_say_the_hours_came_from_a_seminar(world, enrolled):
    with clock.freeze(IN_SESSION):
        classes.record_scan(world["a"], enrolled.id, token_at(enrolled, IN_SESSION))
    rows = list(db.session.execute(records.record_query(records.Scope(region_code="110000"), year=2026)))
    mine = [r for r in rows if r.course_title.startswith("人工智能高级研修班")]
    assert len(mine) == 1
    row = records.export_row(mine[0], full_id_numbers=False)
    assert len(row) == len(records.HEADER) and row[records.HEADER.index("学时来源")] == "高级研修"
    assert row[records.COLUMNS.index("课程名称")] == "人工智能高级研修班 / 第1讲"
    document = records.record_json(mine[0], full_id_numbers=False)
    assert (document["origin"], document["origin_label"]) == ("seminar", "高级研修")


def test_a_class_credits_as_a_face_to_face_class(world, db_session, make_user):
    made = programme_with_sessions(world["host"], world["org"], sessions=1, kind="class", title="应急管理面授班",
                                   min_title_level="", category="public")
    user = learner(make_user, level=None)
    accepted(world["host"], made, [user])
    session = made.sessions[0]
    with clock.freeze(IN_SESSION):
        classes.record_scan(user, session.id, token_at(session, IN_SESSION))
    (entry,) = [r for r in ledger.active_records(user.id)]
    assert (entry.origin, entry.category, entry.hours) == (CreditOrigin.CLASS, "public", Decimal(3))


def test_completing_the_share_of_sessions_issues_the_programme_certificate(world, enrolled):
    import subprocess

    import jwt

    from lms.certificates import services as certificates
    from lms.core.storage import media_path

    programme, user = world["programme"], world["a"]  # 60 % of 3 sessions: 2
    first, second, third = programme.sessions

    def scan(session):
        at = session.starts_at.replace(tzinfo=UTC) + timedelta(minutes=30)
        with clock.freeze(at):
            classes.record_scan(user, session.id, token_at(session, at))

    scan(first)
    assert classes.programme_certificate(user.id, programme) is None
    scan(second)
    cert = classes.programme_certificate(user.id, programme)
    assert (cert.kind, cert.title, cert.hours, cert.version, cert.course_code) == (
        "programme", "人工智能高级研修班", Decimal(6), 1, classes.programme_code(programme))
    assert cert.completed_on == date(2026, 6, 11)
    scan(third)
    assert (cert.hours, cert.version, cert.completed_on) == (Decimal(9), 2, date(2026, 6, 12))
    assert certificates.verify(cert.number).certificate.id == cert.id
    text = subprocess.run(["pdftotext", "-layout", str(media_path(cert.pdf_path)), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "研修培训结业证明" in text and "人工智能高级研修班" in text and "9 学时" in text
    assert classes.programme_certificate(world["b"].id, programme) is None

    # The learner's record bundles it, and so does the year's 学时证明 (both signed ClrCredentials).
    bundled = [jwt.decode(certificates.learner_clr(user), options={"verify_signature": False}),
               jwt.decode(certificates.issue_annual_certificate(user, 2026).credential_jwt,
                          options={"verify_signature": False})]
    for document in bundled:
        (badge,) = document["credentialSubject"]["verifiableCredential"]
        assert badge["id"].endswith(f"/credentials/{cert.number}") and badge["credentialSubject"]["creditsEarned"] == 9


def test_a_rule_set_crediting_per_programme_credits_its_hours_once_at_completion(world, enrolled):
    programme, user = world["programme"], world["a"]  # 3 sessions of 3 hours; 60 %: 2 complete it
    rule = ledger.rule_set_for(user)
    rule.class_credit = "programme"
    first, second, third = programme.sessions

    def scan(session):
        at = session.starts_at.replace(tzinfo=UTC) + timedelta(minutes=30)
        with clock.freeze(at):
            return classes.record_scan(user, session.id, token_at(session, at))

    recorded = scan(first)
    assert recorded.new and recorded.per_programme and recorded.credited == 0
    assert seminar_entries(user) == [] and recorded.attendance.credit_record_id is None
    assert classes.programme_certificate(user.id, programme) is None
    recorded = scan(second)  # the required share: the programme's hours, all of them, in one entry
    assert recorded.credited == Decimal(9)
    (entry,) = seminar_entries(user)
    assert (entry.hours, entry.course_title, entry.source_type, entry.source_id) == (
        Decimal(9), "人工智能高级研修班", "class_programme", f"{programme.id}:{user.id}")
    assert entry.completed_at.date() == date(2026, 6, 11)
    cert = classes.programme_certificate(user.id, programme)
    assert (cert.hours, cert.version) == (Decimal(9), 1)
    assert scan(third).credited == 0 and scan(third).new is False  # attended, nothing more to credit
    assert [e.hours for e in seminar_entries(user)] == [Decimal(9)] and cert.version == 1
    assert classes.credited_for(user.id, programme) == Decimal(9)


def test_switching_the_rule_set_while_a_programme_runs_never_credits_more_than_the_programme(world, enrolled):
    programme, user = world["programme"], world["a"]
    rule = ledger.rule_set_for(user)
    first, second, third = programme.sessions

    def scan(session):
        at = session.starts_at.replace(tzinfo=UTC) + timedelta(minutes=30)
        with clock.freeze(at):
            return classes.record_scan(user, session.id, token_at(session, at))

    assert scan(first).credited == Decimal(3)  # per session
    rule.class_credit = "programme"
    assert scan(second).credited == Decimal(6)  # completed: what the programme still owes
    rule.class_credit = "session"
    assert scan(third).credited == 0  # the programme is credited in full already
    assert sum(e.hours for e in seminar_entries(user)) == Decimal(9) == programme.total_hours
