"""The per-learner credit budget, as a stateful property test against the real services and database.

One learner, driven through random interleavings of session starts (supersedes and lesson switches
included), beats with arbitrary segments, rates, events, visibility and sequence numbers, lost
requests, lost responses (the player resends what was not acknowledged), attention answers and clock
advances. After every step the invariant of ``lms.learning.crediting`` is checked on the learner's
totals, whatever the parts:

- every credited second is attributable to its own second of wall-clock time: the time charged by a
  step (credited plus waiting for an attention check) is laid on the wall clock just before that
  step, and these stretches overlap by at most the one tolerance in total;
- likewise the media seconds accepted as watched, at the fastest allowed rate;
- credited time never decreases, and nothing is credited without passing the rules.
"""

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from lms.core.errors import TooMany
from lms.credits.models import RuleSet
from lms.learning import crediting, services
from lms.learning.models import LessonProgress
from lms.learning.services import Beat
from tests.conftest import id_number
from tests.learning_helpers import Clock, course

pytestmark = pytest.mark.usefixtures("ctx")

EPS = 1e-3


class ClaimedTime:
    """Stretches of wall clock claimed by credit: each amount ``a`` granted at time ``t`` claims
    [t - a, t]. ``excess`` is how much the amounts exceed the wall-clock time they cover together."""

    def __init__(self):
        self.total = 0.0
        self.union: list[list[float]] = []  # disjoint, sorted; ends never decrease as time moves on

    def claim(self, at: float, amount: float) -> None:
        if amount <= 0:
            return
        self.total += amount
        start, end = at - amount, at
        while self.union and self.union[-1][1] >= start:
            s, _ = self.union.pop()
            start = min(start, s)
        self.union.append([start, end])

    @property
    def excess(self) -> float:
        return self.total - sum(e - s for s, e in self.union)


class Player:
    """What a faithful player keeps for one session: its seq and the batches not yet acknowledged."""

    def __init__(self, session_id: str, lesson_id: int):
        self.session_id, self.lesson_id = session_id, lesson_id
        self.seq = 0
        self.unacked: list[tuple[int, list]] = []


segment = st.tuples(st.floats(min_value=-5, max_value=400, allow_nan=False),
                    st.floats(min_value=0, max_value=60, allow_nan=False)).map(lambda p: [p[0], p[0] + p[1]])


_learners = itertools.count(1)


def new_learner(make_user):
    """A learner of their own for each run (the budget and the start limit are per learner); the
    fixture's numbering stops at 999, and a failing run is replayed many times while it shrinks."""
    n = next(_learners)
    born = date(1980, 1, 1) + timedelta(days=n // 1000)
    return make_user(id_number=id_number(f"320102{born:%Y%m%d}{n % 1000:03d}"), mobile=f"137{n:08d}")


class LearnerBudget(RuleBasedStateMachine):
    """Set by the test before running: the app's learner factory and the course under test."""

    make_user = None
    course = None

    players = Bundle("players")

    def __init__(self):
        super().__init__()
        self.learner = new_learner(type(self).make_user)
        services.enroll(self.learner, type(self).course.code)
        self.lessons = [lesson for lesson in type(self).course.lessons if lesson.kind in ("video", "reading")]
        self.fastest = max(float(r) for r in services.credits.rule_set_for(self.learner).allowed_rates.split(","))
        self.tick = Clock()
        self.wall = 0.0
        self.credit = ClaimedTime()
        self.media = ClaimedTime()
        self.last = self._totals()

    def _totals(self) -> tuple[float, float, float]:
        charged, credited, watched = services.db.session.execute(select(
            func.coalesce(func.sum(LessonProgress.credited_seconds + LessonProgress.pending_seconds), 0),
            func.coalesce(func.sum(LessonProgress.credited_seconds), 0),
            func.coalesce(func.sum(LessonProgress.watched_seconds), 0),
        ).where(LessonProgress.user_id == self.learner.id)).one()
        return float(charged), float(credited), float(watched)

    def _settle(self) -> None:
        """Lay what the last step charged on the wall clock and check the learner's totals."""
        charged, credited, watched = self._totals()
        self.credit.claim(self.wall, charged - self.last[0])
        self.media.claim(self.wall, (watched - self.last[2]) / self.fastest)
        assert credited >= self.last[1] - EPS, "credited time decreased"
        self.last = (charged, credited, watched)

    @initialize(target=players, lesson=st.integers(0, 3))
    def first_start(self, lesson):
        return self._start(lesson)

    def _start(self, lesson_index: int):
        lesson = self.lessons[lesson_index % len(self.lessons)]
        with self.tick():
            try:
                session, _ = services.start_session(self.learner.id, lesson.id)
            except TooMany:
                return Player("", lesson.id)  # refused: a player that never got a session
        self._settle()
        return Player(session.id, lesson.id)

    @rule(target=players, lesson=st.integers(0, 3))
    def start(self, lesson):
        return self._start(lesson)

    @rule(seconds=st.one_of(st.floats(min_value=0, max_value=0.2), st.floats(min_value=0, max_value=40)))
    def advance(self, seconds):
        self.tick.advance(seconds)
        self.wall += seconds

    @rule(player=players, segments=st.lists(segment, max_size=4), rate=st.sampled_from([0.5, 1.0, 1.25, 1.5, 2.0]),
          event=st.sampled_from(["tick", "pause", "ended", "unload", "hidden"]), visible=st.booleans(),
          seq=st.sampled_from(["next", "next", "next", "repeat", "jump", "stale"]),
          fate=st.sampled_from(["delivered", "delivered", "request_lost", "response_lost"]),
          position=st.floats(min_value=0, max_value=400))
    def beat(self, player, segments, rate, event, visible, seq, fate, position):
        if not player.session_id:
            return
        number = {"next": player.seq + 1, "repeat": max(1, player.seq), "jump": player.seq + 5,
                  "stale": max(1, player.seq - 2)}[seq]
        player.seq = max(player.seq, number)
        resend = tuple((s, list(segs)) for s, segs in player.unacked if s < number)
        beat = Beat(player.session_id, number, position, segments, rate=rate, visible=visible, event=event,
                    resend=resend)
        if fate == "request_lost":
            player.unacked.append((number, segments))
            return
        with self.tick():
            result = services.record_heartbeat(self.learner.id, beat)
        if fate == "response_lost":
            player.unacked.append((number, segments))
        else:
            acked = result.body.get("acked_seq", number)
            player.unacked = [(s, segs) for s, segs in player.unacked if s > acked]
        self._settle()

    @rule(player=players)
    def answer_check(self, player):
        if not player.session_id:
            return
        with self.tick():
            services.answer_attention(self.learner.id, player.session_id)
        self._settle()

    @invariant()
    def credit_fits_the_wall_clock(self):
        assert self.credit.excess <= crediting.TOLERANCE_SECONDS + EPS, (
            f"{self.credit.total:.3f} s charged on {self.credit.total - self.credit.excess:.3f} s of wall clock")

    @invariant()
    def media_fits_the_wall_clock(self):
        assert self.media.excess <= crediting.TOLERANCE_SECONDS + EPS, (
            f"{self.media.total * self.fastest:.3f} media s accepted, more than the wall clock allows at "
            f"{self.fastest}×")


def test_the_learners_budget_holds_however_sessions_and_beats_are_combined(app, db_session, make_user):
    # Attention checks every 20–40 s of play, a 30 s window: checks come due inside the runs.
    db_session.add(RuleSet(name="测试规则", region_code="110000", attention_check_min_seconds=20,
                           attention_check_max_seconds=40, attention_window_seconds=30))
    db_session.flush()
    LearnerBudget.make_user = make_user
    LearnerBudget.course = course(db_session)
    run_state_machine_as_test(LearnerBudget, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


def test_claimed_time_counts_overlaps():
    claimed = ClaimedTime()
    claimed.claim(10, 10)  # [0, 10]
    claimed.claim(20, 10)  # [10, 20]: touching, no overlap
    assert claimed.excess == pytest.approx(0)
    claimed.claim(20.5, 3)  # [17.5, 20.5] overlaps [10, 20] by 2.5
    assert claimed.excess == pytest.approx(2.5)
    claimed.claim(100, 50)  # [50, 100] swallows nothing, adds 50
    assert claimed.excess == pytest.approx(2.5) and claimed.total == pytest.approx(73)

