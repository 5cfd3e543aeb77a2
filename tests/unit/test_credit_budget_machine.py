"""The per-learner credit budget, as a stateful property test against the real services and database.

One learner, driven through random interleavings of session starts (supersedes and lesson switches
included), beats with arbitrary segments, rates, events, visibility and sequence numbers, lost
requests, lost responses (the player resends what was not acknowledged), attention answers and clock
advances. After every step the invariant of ``lms.learning.crediting`` is checked on the learner's
totals, whatever the parts:

- from any instant at which the server closed its books on the learner (a session started, a beat
  accepted), the time charged since (credited plus waiting for an attention check), over all the
  learner's sessions and lessons, is at most the wall-clock time since that instant plus the one
  tolerance: no start, close, supersede, retry, replay or event creates an allowance;
- likewise the media seconds accepted as watched, divided by the fastest allowed rate;
- credited time never decreases, and nothing is credited without passing the rules.
"""

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import func, select

from lms.core.errors import TooMany
from lms.credits.models import RuleSet
from lms.extensions import db
from lms.learning import crediting, heartbeat, play, services
from lms.learning.heartbeat import Beat
from lms.learning.models import LessonProgress
from tests.conftest import id_number
from tests.learning_helpers import Clock, course

pytestmark = pytest.mark.usefixtures("ctx")

EPS = 1e-3


class Books:
    """The learner's totals at each instant the server closed its books on them: a session started, or
    a beat accepted ("ok"). Whatever is credited after such an instant must fit the wall-clock time
    since then, plus the one tolerance: no allowance is carried past it beyond the tolerance."""

    def __init__(self):
        self.instants: list[tuple[float, float, float]] = []  # (wall clock, charged, watched ÷ fastest)

    def close(self, at: float, charged: float, media: float) -> None:
        self.instants.append((at, charged, media))

    def worst(self, at: float, charged: float, media: float) -> tuple[float, float]:
        """The largest excess, over all closed instants, of credit (and of media at the fastest
        rate) beyond the wall-clock time since that instant."""
        credit = max((charged - c - (at - t) for t, c, _ in self.instants), default=0.0)
        watched = max((media - m - (at - t) for t, _, m in self.instants), default=0.0)
        return credit, watched


class Player:
    """What a faithful player keeps for one session: its seq and the batches not yet acknowledged."""

    def __init__(self, session_id: str, lesson_id: int):
        self.session_id, self.lesson_id = session_id, lesson_id
        self.seq = 0
        self.unacked: list[tuple[int, list]] = []


# A played segment as (offset from the lesson's furthest watched point, length): mostly where a
# player would be, sometimes a rewind or a forward seek.
segment = st.tuples(st.floats(min_value=-40, max_value=8, allow_nan=False),
                    st.floats(min_value=0, max_value=60, allow_nan=False))


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
        self.books = Books()
        self.last = self._totals()

    def _totals(self) -> tuple[float, float, float]:
        charged, credited, watched = db.session.execute(select(
            func.coalesce(func.sum(LessonProgress.credited_seconds + LessonProgress.pending_seconds), 0),
            func.coalesce(func.sum(LessonProgress.credited_seconds), 0),
            func.coalesce(func.sum(LessonProgress.watched_seconds), 0),
        ).where(LessonProgress.user_id == self.learner.id)).one()
        return float(charged), float(credited), float(watched)

    def _settle(self, *, closed: bool) -> None:
        """Check the learner's totals after a step against every earlier closing of the books; then
        record this one when the server closed its books (``closed``)."""
        charged, credited, watched = self._totals()
        assert credited >= self.last[1] - EPS, "credited time decreased"
        self.last = (charged, credited, watched)
        over, over_media = self.books.worst(self.wall, charged, watched / self.fastest)
        assert over <= crediting.TOLERANCE_SECONDS + EPS, (
            f"{over:.3f} s charged beyond the wall clock and the tolerance ({charged:.3f} s in all)")
        assert over_media <= crediting.TOLERANCE_SECONDS + EPS, (
            f"{over_media * self.fastest:.3f} media s accepted beyond what the wall clock allows at {self.fastest}×")
        if closed:
            self.books.close(self.wall, charged, watched / self.fastest)

    @initialize(target=players, lesson=st.integers(0, 3))
    def first_start(self, lesson):
        return self._start(lesson)

    def _start(self, lesson_index: int):
        lesson = self.lessons[lesson_index % len(self.lessons)]
        with self.tick():
            try:
                session, _ = play.start_session(self.learner.id, lesson.id)
            except TooMany:
                return Player("", lesson.id)  # refused: a player that never got a session
        self._settle(closed=True)
        return Player(session.id, lesson.id)

    @rule(target=players, lesson=st.integers(0, 3))
    def start(self, lesson):
        return self._start(lesson)

    @rule(seconds=st.one_of(st.floats(min_value=0, max_value=0.2), st.floats(min_value=0, max_value=40)))
    def advance(self, seconds):
        self.tick.advance(seconds)
        self.wall += seconds

    @rule(player=players, segments=st.lists(segment, max_size=4), rate=st.sampled_from([0.5, 1.0, 1.25, 1.5, 2.0]),
          event=st.sampled_from(["tick", "pause", "ended", "unload", "hidden"]),
          visible=st.sampled_from([True, True, True, False]),
          seq=st.sampled_from(["next", "next", "next", "repeat", "jump", "stale"]),
          fate=st.sampled_from(["delivered", "delivered", "request_lost", "response_lost"]),
          position=st.floats(min_value=0, max_value=400))
    def beat(self, player, segments, rate, event, visible, seq, fate, position):
        if not player.session_id:
            return
        furthest = db.session.scalar(select(LessonProgress.furthest_point).where(
            LessonProgress.user_id == self.learner.id, LessonProgress.lesson_id == player.lesson_id)) or 0.0
        segments = [[furthest + offset, furthest + offset + length] for offset, length in segments]
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
            result = heartbeat.record_heartbeat(self.learner.id, beat)
        if fate == "response_lost":
            player.unacked.append((number, segments))
        else:
            acked = result.body.get("acked_seq", number)
            player.unacked = [(s, segs) for s, segs in player.unacked if s > acked]
        self._settle(closed=result.status == "ok")

    @rule(player=players)
    def answer_check(self, player):
        if not player.session_id:
            return
        with self.tick():
            play.answer_attention(self.learner.id, player.session_id)
        self._settle(closed=False)

def test_the_learners_budget_holds_however_sessions_and_beats_are_combined(app, db_session, make_user):
    # Attention checks every 20–40 s of play, a 30 s window: checks come due inside the runs.
    db_session.add(RuleSet(name="测试规则", region_code="110000", attention_check_min_seconds=20,
                           attention_check_max_seconds=40, attention_window_seconds=30))
    db_session.flush()
    LearnerBudget.make_user = make_user
    LearnerBudget.course = course(db_session)
    run_state_machine_as_test(LearnerBudget, settings=settings(
        max_examples=100, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


def test_books_measure_credit_since_each_closing():
    books = Books()
    books.close(0, 0, 0)
    books.close(10, 10, 10)
    assert books.worst(22, 22, 22) == (0, 0)  # 12 s after the last closing, 12 s more: fits
    assert books.worst(10.5, 13, 10) == (2.5, -0.5)  # 3 s credited within half a second of a closing
