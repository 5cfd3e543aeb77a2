"""Attendance and the learner's total, as a stateful property test against the real services and database.

For each example a host runs a programme of three sessions and one accepted learner scans codes of
every age, at every moment (before, inside and after a session's window), retries scans, and the host
records them by hand with or without a reason, in any order. After every step:

- each session holds at most one attendance of the learner;
- where the learner's rule set credits per session, each attendance has exactly one standing ledger
  entry (origin seminar, source ``class_attendance``) and the learner's seminar hours are exactly the
  hours of the distinct sessions attended — never more, however often a code is scanned or retried;
- where it credits per programme (结业计学时), nothing until the required share is attended, then the
  programme's hours in one entry;
- and whatever the rule set was switched to while the programme ran, never more than the programme's
  total;
- what the service did is what the rules predict: a scan counts only with a code at most 30 s old,
  for this session, inside its window; a refused step changes nothing.
"""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from lms.classes import services as classes
from lms.classes.models import ClassAttendance
from lms.core import clock
from lms.core.errors import DomainError
from lms.credits import services as ledger
from lms.credits.models import CreditOrigin
from lms.extensions import db
from tests.classes_helpers import accepted, host, programme_with_sessions
from tests.conftest import id_number

_learners = itertools.count(1)


class Attendance(RuleBasedStateMachine):
    """Set by the test before running: the learner factory, the host and their organization."""

    make_user = None
    host = None
    organization = None

    def __init__(self):
        super().__init__()
        n = next(_learners)
        self.learner = type(self).make_user(real_name="性质学员", id_number=id_number(f"51010119800101{n % 1000:03d}"),
                                            mobile=f"137{n:08d}")
        self.learner.title_level = "senior"
        self.attended: set[int] = set()

    @initialize(mode=st.sampled_from(["session", "programme"]))
    def programme(self, mode):
        self.programme = programme_with_sessions(type(self).host, type(self).organization)
        accepted(type(self).host, self.programme, [self.learner])
        self.sessions = list(self.programme.sessions)
        self.rule = ledger.rule_set_for(self.learner)
        self.rule.class_credit, self.switched = mode, False
        db.session.flush()

    @rule()
    def switch_crediting(self):
        """The region's rule set changes how classes are credited while the programme runs."""
        self.rule.class_credit = "programme" if self.rule.class_credit == "session" else "session"
        self.switched = True
        db.session.flush()

    def _at(self, session, minutes: int) -> datetime:
        return session.starts_at.replace(tzinfo=UTC) + timedelta(minutes=minutes)

    def _in_window(self, session, at: datetime) -> bool:
        return session.starts_at <= at.replace(tzinfo=None) <= session.ends_at

    def _attempt(self, action, expect_ok: bool, session) -> None:
        before = self._state()
        try:
            with db.session.begin_nested():
                recorded = action()
        except DomainError:
            db.session.expire_all()
            assert not expect_ok, "a scan the rules accept was refused"
            assert self._state() == before, "a refused step changed something"
            return
        assert expect_ok, "a scan the rules refuse was accepted"
        assert recorded.new == (session.id not in self.attended)
        self.attended.add(session.id)

    @rule(index=st.integers(0, 2), minutes=st.sampled_from([-30, -1, 0, 1, 90, 179, 180, 181, 300]),
          age=st.integers(0, 60), other_session=st.booleans())
    def scan(self, index, minutes, age, other_session):
        session = self.sessions[index]
        at = self._at(session, minutes)
        named = self.sessions[(index + 1) % 3] if other_session else session
        slot = classes.current_slot(at - timedelta(seconds=age))
        token = classes.issue_token(named, at - timedelta(seconds=age))
        real_age = int(at.timestamp()) - slot
        ok = not other_session and real_age <= classes.TOKEN_LIFETIME_SECONDS and self._in_window(session, at)
        with clock.freeze(at):
            self._attempt(lambda: classes.record_scan(self.learner, session.id, token), ok, session)

    @rule(index=st.integers(0, 2))
    def retried_scan(self, index):
        """The same live code sent twice (a network retry): the second credits nothing."""
        session = self.sessions[index]
        at = self._at(session, 30)
        token = classes.issue_token(session, at)
        with clock.freeze(at):
            self._attempt(lambda: classes.record_scan(self.learner, session.id, token), True, session)
            self._attempt(lambda: classes.record_scan(self.learner, session.id, token), True, session)

    @rule(index=st.integers(0, 2), reason=st.sampled_from(["", "手机没电，现场核对身份"]),
          minutes=st.sampled_from([-10, 60, 400]))
    def by_hand(self, index, reason, minutes):
        session = self.sessions[index]
        ok = bool(reason) and minutes >= 0 and session.id not in self.attended
        with clock.freeze(self._at(session, minutes)):
            self._attempt(lambda: classes.record_by_hand(type(self).host, session.id, self.learner.id, reason),
                          ok, session)

    def _state(self):
        rows = db.session.scalars(select(ClassAttendance).where(ClassAttendance.user_id == self.learner.id))
        return sorted((a.session_id, a.credit_record_id) for a in rows)

    @invariant()
    def the_total_follows_the_rule_set_and_never_passes_the_programme(self):
        if not hasattr(self, "sessions"):
            return
        rows = self._state()
        assert [s for s, _ in rows] == sorted(self.attended), "attendance differs from what the rules allow"
        entries = [r for r in ledger.active_records(self.learner.id) if r.origin == CreditOrigin.SEMINAR]
        total = sum((e.hours for e in entries), Decimal(0))
        assert total <= self.programme.total_hours
        if self.switched:
            return
        if self.rule.class_credit == "session":
            assert sorted(e.id for e in entries) == sorted(record for _, record in rows)
            hours = {s.id: s.hours for s in self.sessions}
            assert total == sum((hours[s] for s in self.attended), Decimal(0))
        else:
            assert all(record is None for _, record in rows)
            met = classes.completed(self.programme, len(self.attended))
            assert [e.hours for e in entries] == ([self.programme.total_hours] if met else [])


def test_the_learner_is_credited_once_per_attended_session_whatever_the_order(app, db_session, make_user, ctx):
    Attendance.make_user = make_user
    Attendance.host, Attendance.organization = host(make_user, db_session)
    run_state_machine_as_test(Attendance, settings=settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
