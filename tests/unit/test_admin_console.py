"""The admin console's services: people search, roles, accounts, exam attempts, the audit log; and the
rule that the platform always keeps an enabled admin, as a stateful property test."""

import csv
import io
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from openpyxl import load_workbook
from sqlalchemy import select

from lms.accounts import services as accounts
from lms.accounts import sessions
from lms.accounts.models import OrgKind, Role, RoleGrant
from lms.admin import services
from lms.core.audit import AuditEvent, record_event
from lms.core.errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from lms.extensions import db
from lms.learning import exam
from lms.learning import services as learning
from tests.conftest import TEST_PASSWORD, credit_code
from tests.learning_helpers import Clock, course, study_all_lessons

pytestmark = pytest.mark.usefixtures("ctx")
REASON = "测试：核实后处理"


@pytest.fixture
def admin(make_user):
    return make_user(roles=(Role.ADMIN,), real_name="管理员甲")


def test_only_admins_use_the_console(make_user):
    auditor = make_user(roles=(Role.HR_AUDITOR,), region_code="110000")
    learner = make_user()
    for actor in (auditor, learner, None):
        with pytest.raises(NotAllowed):
            services.find_people(actor, services.PeopleFilter())
        with pytest.raises(NotAllowed):
            services.disable_account(actor, learner, reason=REASON)
        with pytest.raises(NotAllowed):
            services.audit_page(actor, services.AuditFilter())
    assert learner.is_active_account


# ---------------------------------------------------------------- finding people

def test_people_are_found_by_name_id_number_masked_id_mobile_email_and_unit(admin, make_user):
    from tests.conftest import id_number

    raw = id_number("11010519800101771")
    target = make_user(real_name="欧阳找人", id_number=raw, mobile="13811112222", email="zhaoren@example.cn",
                       employer_name="找人测试研究院", employer_credit_code=credit_code("12110000MB0000771"))
    make_user(real_name="别人")

    def found(q, **kw):
        return [u.id for u in services.find_people(admin, services.PeopleFilter(q=q, **kw)).items]

    for q in ("欧阳", raw, raw.lower(), target.id_number_masked, raw[-4:], "13811112222", "1111222",
              "ZhaoRen@example.cn", "找人测试", credit_code("12110000MB0000771")):
        assert target.id in found(q), q
    assert found("没有这个人") == []
    assert target.id not in found("欧阳", role="admin") and admin.id in found("管理员甲", role="admin")
    accounts.disable_account(admin, target, reason=REASON)
    assert found("欧阳", state="disabled") == [target.id] and found("欧阳", state="active") == []


def test_people_come_a_page_at_a_time(admin, make_user, monkeypatch):
    monkeypatch.setattr(services, "PEOPLE_PAGE_SIZE", 2)
    for n in range(5):
        make_user(real_name=f"分页{n}")
    pages = [services.find_people(admin, services.PeopleFilter(q="分页"), page=p) for p in (1, 2, 3, 99, "x")]
    assert [len(p.items) for p in pages[:3]] == [2, 2, 1] and pages[0].pages == 3 and pages[0].total == 5
    assert pages[3].page == 3 and pages[4].page == 1  # past the end: the last page; nonsense: the first
    assert len({u.id for p in pages[:3] for u in p.items}) == 5


# ---------------------------------------------------------------- roles

def test_roles_that_act_for_an_organization_or_region_need_one(admin, make_user, db_session):
    person = make_user()
    before = len(person.role_grants)
    with pytest.raises(InvalidInput, match="必须指定机构") as no_org:
        services.grant_role(admin, person, "unit_admin", reason=REASON)
    assert no_org.value.field == "organization"
    with pytest.raises(NotFound, match="找不到机构"):
        services.grant_role(admin, person, "publisher", organization="不存在的机构", reason=REASON)
    with pytest.raises(InvalidInput, match="必须指定地区") as no_region:
        services.grant_role(admin, person, "hr_auditor", reason=REASON)
    assert no_region.value.field == "region"
    with pytest.raises(InvalidInput, match="原因"):
        services.grant_role(admin, person, "reviewer", reason="")
    with pytest.raises(InvalidInput, match="角色"):
        services.grant_role(admin, person, "emperor", reason=REASON)
    employer = person.employer
    with pytest.raises(InvalidInput, match="不是课件发布机构"):
        services.grant_role(admin, person, "publisher", organization=employer.name, reason=REASON)
    db_session.refresh(person)
    assert len(person.role_grants) == before

    grant = services.grant_role(admin, person, "unit_admin", organization=employer.credit_code, reason=REASON)
    assert grant.organization_id == employer.id
    assert services.grant_role(admin, person, "hr_auditor", region_code="440000", reason=REASON).region_code == "440000"
    publisher = accounts.get_or_create_organization("授权测试发布机构", OrgKind.PUBLISHER)
    assert services.grant_role(admin, person, "publisher", organization="授权测试发布机构",
                               reason=REASON).organization_id == publisher.id
    with pytest.raises(InvalidInput, match="已有该角色"):
        services.grant_role(admin, person, "unit_admin", organization=employer.credit_code, reason=REASON)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "role.granted",
                                                        AuditEvent.target_id == str(person.id))
                               .order_by(AuditEvent.id.desc())).first()
    assert event.actor_id == admin.id and event.detail["reason"] == REASON and event.detail["role"] == "publisher"


def test_revoking_a_grant_is_audited_with_the_reason(admin, make_user, db_session):
    person = make_user(roles=(Role.LEARNER, Role.REVIEWER))
    grant = person.grants_for(Role.REVIEWER)[0]
    services.revoke_role(admin, person, grant.id, reason=REASON)
    assert not person.has_role(Role.REVIEWER) and db_session.get(RoleGrant, grant.id) is None
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "role.revoked"))
    assert (event.actor_id, event.target_id, event.detail["role"], event.detail["reason"]) == (
        admin.id, str(person.id), "reviewer", REASON)
    other = make_user(roles=(Role.REVIEWER,))
    with pytest.raises(NotFound):  # a grant of someone else
        services.revoke_role(admin, person, other.role_grants[0].id, reason=REASON)


# ---------------------------------------------------------------- accounts

def test_disabling_ends_every_session_and_refuses_sign_in_until_enabled(app, admin, make_user, db_session):
    person = make_user()
    sessions.start_session(person, remember=True, user_agent="Firefox/128.0 (Windows)")
    sessions.start_session(person, remember=False, user_agent=None)
    epoch = person.login_epoch
    assert services.disable_account(admin, person, reason=REASON) == 2
    assert not person.is_active_account and person.login_epoch == epoch + 1
    assert sessions.live_sessions(person) == []
    with pytest.raises(NotAllowed, match="已停用"):
        accounts.authenticate(person.mobile, TEST_PASSWORD)
    with pytest.raises(Conflict, match="已是停用"):
        services.disable_account(admin, person, reason=REASON)
    services.enable_account(admin, person, reason=REASON)
    assert accounts.authenticate(person.mobile, TEST_PASSWORD) is person
    with pytest.raises(Conflict, match="未被停用"):
        services.enable_account(admin, person, reason=REASON)
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(person.id),
                                                                 AuditEvent.actor_id == admin.id)
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["user.disabled", "user.enabled"]


def test_a_reason_is_required(admin, make_user):
    person = make_user()
    for reason in ("", " ", "短", "长" * 201):
        with pytest.raises(InvalidInput, match="原因") as refused:
            services.disable_account(admin, person, reason=reason)
        assert refused.value.field == "reason"
    assert person.is_active_account


def test_an_admin_cannot_disable_themselves(admin, make_user):
    make_user(roles=(Role.ADMIN,))  # another admin exists: still refused, they would be locked out
    with pytest.raises(Conflict, match="不能停用自己的账号"):
        services.disable_account(admin, admin, reason=REASON)
    assert admin.is_active_account


def test_the_last_enabled_admin_is_neither_disabled_nor_demoted(app, make_user, db_session):
    # Every other admin of the test database is set aside first, as the one under test must be the last.
    for grant in db_session.scalars(select(RoleGrant).where(RoleGrant.role == Role.ADMIN)):
        grant.user.is_active_account = False
    first = make_user(roles=(Role.ADMIN,), real_name="唯一管理员")
    second = make_user(roles=(Role.ADMIN,), real_name="第二管理员")
    services.disable_account(first, second, reason=REASON)
    assert accounts.enabled_admin_ids() == {first.id}
    with pytest.raises(Conflict, match="没有可用的管理员"):
        accounts.disable_account(None, first, reason=REASON)  # the CLI's door: the same rule
    with pytest.raises(Conflict, match="没有可用的管理员"):
        services.revoke_role(first, first, first.grants_for(Role.ADMIN)[0].id, reason=REASON)
    assert first.is_active_account and first.has_role(Role.ADMIN)
    # A disabled admin's grant may go: it leaves the enabled admins as they were.
    services.revoke_role(first, second, second.grants_for(Role.ADMIN)[0].id, reason=REASON)


# ---------------------------------------------------------------- exam attempts

@pytest.fixture
def failed_out(app, make_user, db_session):
    """A learner who studied GX-NS-001 and used up every attempt at its exam."""
    learner = make_user()
    c = course(db_session)
    enrollment = learning.enroll(learner, c.code)
    tick = Clock()
    study_all_lessons(learner.id, c, tick)
    with tick():
        for _n in range(exam.exam_rules(learner, c).attempts):
            exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
    return learner, enrollment, tick


def test_resetting_gives_the_attempts_back_and_keeps_the_record(admin, failed_out, db_session):
    learner, enrollment, tick = failed_out
    with tick(), pytest.raises(Conflict, match="次数已用完"):
        exam.start_attempt(learner, enrollment)
    used = len(exam.attempts_of(learner, enrollment))
    assert services.reset_exam_attempts(admin, learner, enrollment.id, reason="考试期间系统故障") == used
    assert exam.attempts_left(learner, enrollment) == exam.exam_rules(learner, enrollment.course).attempts
    with tick():
        assert exam.start_attempt(learner, enrollment).reset_at is None
    assert len(exam.attempts_of(learner, enrollment)) == used + 1  # the reset ones stay on record
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "exam.attempts_reset"))
    assert (event.actor_id, event.target_id, event.detail["reason"], event.detail["attempts"],
            event.detail["course_code"]) == (admin.id, str(learner.id), "考试期间系统故障", used, "GX-NS-001")


def test_a_reset_needs_a_reason_attempts_to_reset_and_the_learners_own_course(admin, failed_out, make_user):
    learner, enrollment, _tick = failed_out
    with pytest.raises(InvalidInput, match="原因"):
        services.reset_exam_attempts(admin, learner, enrollment.id, reason="")
    other = make_user()
    with pytest.raises(NotFound):
        services.reset_exam_attempts(admin, other, enrollment.id, reason=REASON)
    services.reset_exam_attempts(admin, learner, enrollment.id, reason=REASON)
    with pytest.raises(Conflict, match="无需重置"):
        services.reset_exam_attempts(admin, learner, enrollment.id, reason=REASON)
    assert exam.attempts_left(learner, enrollment) > 0


def test_a_passed_exam_is_not_reset(admin, make_user, db_session):
    from tests.learning_helpers import correct_answers

    learner = make_user()
    c = course(db_session)
    enrollment = learning.enroll(learner, c.code)
    tick = Clock()
    study_all_lessons(learner.id, c, tick)
    with tick():
        exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        attempt = exam.start_attempt(learner, enrollment)
        exam.submit_attempt(learner, attempt, correct_answers(attempt))
    with pytest.raises(Conflict, match="已通过"):
        services.reset_exam_attempts(admin, learner, enrollment.id, reason=REASON)


def test_the_person_view_shows_roles_exams_and_recent_events(admin, failed_out):
    learner, enrollment, _tick = failed_out
    services.reset_exam_attempts(admin, learner, enrollment.id, reason=REASON)
    view = services.person_view(admin, learner)
    record = view.exams[0]
    assert (record.enrollment.id, record.counted, record.passed) == (enrollment.id, 0, False)
    assert record.reset == record.allowed
    assert view.events[0].action == "exam.attempts_reset"


# ---------------------------------------------------------------- the audit log

@pytest.fixture
def logged(admin, make_user, db_session):
    """Events at known times: two by the admin on a person, one by the person, one by nobody."""
    person = make_user(real_name="日志对象")
    base = datetime(2026, 3, 10, 2, 0)  # 10:00 in Beijing
    events = [record_event(admin, "user.disabled", person, reason="甲"), record_event(admin, "user.enabled", person),
              record_event(person, "user.password_changed", person), record_event(None, "outbox.given_up")]
    for n, event in enumerate(events):
        event.at = base + timedelta(days=n)
    db_session.flush()
    return admin, person, events


def _ids(page) -> list[int]:
    return [row.event.id for row in page.items]


def test_the_audit_log_filters_by_who_what_when_and_object(logged):
    admin, person, events = logged
    log = lambda **kw: _ids(services.audit_page(admin, services.AuditFilter(**kw)))  # noqa: E731
    mine = {e.id for e in events}
    assert {i for i in log(who="管理员甲") if i in mine} == {events[0].id, events[1].id}
    assert {i for i in log(who=f"#{person.id}") if i in mine} == {events[2].id}
    assert {i for i in log(who=person.mobile) if i in mine} == {events[2].id}
    assert log(action="outbox.given_up") == [events[3].id]
    assert {i for i in log(target_type="User", target_id=str(person.id))} >= {e.id for e in events[:3]}
    day = events[1].at.date()
    from datetime import date

    assert {i for i in log(since=date(2026, 3, 11), until=date(2026, 3, 11)) if i in mine} == {events[1].id}
    assert day == date(2026, 3, 11)
    newest_first = [i for i in log() if i in mine]
    assert newest_first == [e.id for e in reversed(events)]


def test_an_audit_filter_with_a_bad_date_names_it():
    with pytest.raises(InvalidInput) as refused:
        services.parse_audit_filter({"since": "2026-13-01"})
    assert refused.value.field == "since"
    with pytest.raises(InvalidInput, match="早于") as backwards:
        services.parse_audit_filter({"since": "2026-03-02", "until": "2026-03-01"})
    assert backwards.value.field == "until"
    parsed = services.parse_audit_filter({"who": " 张三 ", "since": "2026-03-01"})
    assert parsed.who == "张三" and parsed.args() == {"who": "张三", "since": "2026-03-01"}


def test_the_audit_export_holds_the_filtered_events_and_is_itself_audited(logged, db_session, tmp_path):
    admin, person, events = logged
    filters = services.AuditFilter(target_type="User", target_id=str(person.id), action="user.disabled")
    assert services.audit_export(admin, filters, "csv", ip="127.0.0.1") == 1
    text = b"".join(services.iter_audit_csv(filters)).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["时间", "操作人", "操作人编号", "操作"] and len(rows) == 2
    assert rows[1][0] == "2026-03-10 10:00:00" and rows[1][1] == "管理员甲" and rows[1][3] == "停用账号"
    assert person.id_number_masked in rows[1][7] and '"reason": "甲"' in rows[1][8]
    exported = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.exported"))
    assert exported.actor_id == admin.id and exported.detail["rows"] == 1 and exported.ip == "127.0.0.1"
    assert exported.detail["filter"]["action"] == "user.disabled"

    out = tmp_path / "audit.xlsx"
    assert services.write_audit_xlsx(filters, str(out)) == 1
    sheet = load_workbook(out).active
    assert sheet["A2"].value == datetime(2026, 3, 10, 10, 0) and sheet["A2"].is_date
    assert sheet["C2"].value == admin.id and sheet["E2"].value == "user.disabled"
    with pytest.raises(InvalidInput):
        services.audit_export(admin, filters, "pdf")


def test_a_long_export_reads_in_chunks(logged, monkeypatch):
    admin, person, _events = logged
    monkeypatch.setattr(services, "_CHUNK", 2)
    for n in range(5):
        record_event(admin, "user.enabled", person, n=n)
    filters = services.AuditFilter(target_type="User", target_id=str(person.id))
    rows = list(services._export_rows(filters))
    total = services.audit_page(admin, filters).total
    assert len(rows) == total and len({r[8] for r in rows}) >= 5


# ---------------------------------------------------------------- the last-admin rule, stateful

class AdminRoster(RuleBasedStateMachine):
    """Four people, two of them admins; random grants, revocations, disablings and enablings, each by
    a random person (an admin or not, the CLI's None too). The model says what must be allowed; the
    invariant is the rule: at least one enabled admin, always."""

    people: list = []

    def __init__(self):
        super().__init__()
        self.savepoint = db.session.begin_nested()
        for user in self.people:
            db.session.refresh(user)
        self.admins = {u.id for u in self.people if u.has_role(Role.ADMIN)}
        self.active = {u.id for u in self.people if u.is_active_account}

    def teardown(self):
        self.savepoint.rollback()
        db.session.expire_all()

    def _enabled_admins(self) -> set[int]:
        return self.admins & self.active

    def _attempt(self, action, allowed: bool):
        state = (set(self.admins), set(self.active))
        try:
            action()
        except DomainError:
            assert not allowed, "refused a change the rule allows"
            db.session.expire_all()
            assert ({u.id for u in self.people if u.has_role(Role.ADMIN)},
                    {u.id for u in self.people if u.is_active_account}) == state, "a refusal changed something"
            return False
        assert allowed, "allowed a change the rule refuses"
        return True

    def _is_admin(self, actor) -> bool:
        return actor is None or actor.id in self._enabled_admins()

    people_index = st.integers(min_value=0, max_value=3)
    actor_index = st.one_of(st.none(), st.integers(min_value=0, max_value=3))

    def _actor(self, index):
        return None if index is None else self.people[index]

    @rule(who=people_index, by=actor_index)
    def grant_admin(self, who, by):
        user, actor = self.people[who], self._actor(by)
        allowed = self._is_admin(actor) and user.id not in self.admins
        action = (lambda: accounts.grant_role(None, user, Role.ADMIN)) if actor is None else (
            lambda: services.grant_role(actor, user, "admin", reason=REASON))
        if self._attempt(action, allowed or (actor is None and user.id in self.admins)):
            self.admins.add(user.id)

    @rule(who=people_index, by=actor_index)
    def revoke_admin(self, who, by):
        user, actor = self.people[who], self._actor(by)
        grants = user.grants_for(Role.ADMIN)
        if not grants:
            return
        last = user.id in self.active and self._enabled_admins() <= {user.id}
        allowed = self._is_admin(actor) and not last
        action = (lambda: accounts.revoke_role(None, grants[0], reason=REASON)) if actor is None else (
            lambda: services.revoke_role(actor, user, grants[0].id, reason=REASON))
        if self._attempt(action, allowed):
            self.admins.discard(user.id)

    @rule(who=people_index, by=actor_index)
    def disable(self, who, by):
        user, actor = self.people[who], self._actor(by)
        last = user.id in self.admins and self._enabled_admins() <= {user.id}
        allowed = (self._is_admin(actor) and user.id in self.active and not last
                   and (actor is None or actor.id != user.id))
        action = (lambda: accounts.disable_account(None, user, reason=REASON)) if actor is None else (
            lambda: services.disable_account(actor, user, reason=REASON))
        if self._attempt(action, allowed):
            self.active.discard(user.id)

    @rule(who=people_index, by=actor_index)
    def enable(self, who, by):
        user, actor = self.people[who], self._actor(by)
        allowed = self._is_admin(actor) and user.id not in self.active
        action = (lambda: accounts.enable_account(None, user, reason=REASON)) if actor is None else (
            lambda: services.enable_account(actor, user, reason=REASON))
        if self._attempt(action, allowed):
            self.active.add(user.id)

    @invariant()
    def an_enabled_admin_remains(self):
        assert self._enabled_admins(), "no enabled admin left"
        assert accounts.enabled_admin_ids() & {u.id for u in self.people} == self._enabled_admins()


def test_the_platform_always_keeps_an_enabled_admin(app, make_user, db_session):
    # Only these four count: every other admin of the test database is disabled for the run.
    for grant in db_session.scalars(select(RoleGrant).where(RoleGrant.role == Role.ADMIN)):
        grant.user.is_active_account = False
    people = [make_user(roles=(Role.ADMIN,), real_name="管理员一"), make_user(roles=(Role.ADMIN,), real_name="管理员二"),
              make_user(real_name="学员三"), make_user(roles=(Role.REVIEWER,), real_name="审核四")]
    db_session.flush()
    AdminRoster.people = people
    run_state_machine_as_test(AdminRoster, settings=settings(
        max_examples=60, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
