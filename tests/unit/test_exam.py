"""The final exam draws each attempt anew from the course's pool, and a failed attempt keeps the
answer key to itself — the draw as a pure function under Hypothesis, then the services on the
real database with a seeded draw."""

import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from lms.assessment.models import QuestionKind, QuizQuestion
from lms.learning import exam, services
from tests.learning_helpers import Clock, correct_answers, course, study_all_lessons

KINDS = [kind.value for kind in QuestionKind]


def pool_of(kinds: list[str]) -> list[QuizQuestion]:
    """Unsaved questions: the draw only looks at their kind."""
    return [QuizQuestion(id=i, position=i, kind=kind, text=f"第 {i} 题", options=[], answer="")
            for i, kind in enumerate(kinds, 1)]


# ---------------------------------------------------------------- the draw, pure

@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=40), size=st.integers(1, 45),
       seed=st.integers(0, 2**32))
def test_a_draw_is_that_many_distinct_questions_of_the_pool_mixed_as_the_pool_is(kinds, size, seed):
    pool = pool_of(kinds)
    drawn = exam.draw_questions(pool, size, random.Random(seed))
    assert len(drawn) == min(size, len(pool))
    assert len({q.id for q in drawn}) == len(drawn)
    assert {q.id for q in drawn} <= {q.id for q in pool}
    in_pool, in_draw = Counter(kinds), Counter(q.kind for q in drawn)
    for kind, count in in_pool.items():
        share = Fraction(len(drawn) * count, len(pool))
        assert int(share) <= in_draw[kind] <= -(-share // 1), (kind, share, in_draw)


def test_the_worked_example_of_the_docstring():
    pool = pool_of(["single"] * 5 + ["multiple"] * 2 + ["truefalse"] * 3)
    for seed in range(20):
        drawn = exam.draw_questions(pool, 6, random.Random(seed))
        assert Counter(q.kind for q in drawn) == {"single": 3, "multiple": 1, "truefalse": 2}


def test_a_seeded_draw_repeats_and_the_next_draw_differs():
    pool = pool_of(["single"] * 5 + ["multiple"] * 2 + ["truefalse"] * 3)
    first = [q.id for q in exam.draw_questions(pool, 6, random.Random(7))]
    assert [q.id for q in exam.draw_questions(pool, 6, random.Random(7))] == first
    rand = random.Random(7)
    draws = {frozenset(q.id for q in exam.draw_questions(pool, 6, rand)) for _ in range(10)}
    assert len(draws) > 1


def test_production_randomness_is_the_system_generator():
    # Seeding a SystemRandom does nothing: the draw cannot be predicted from outside.
    assert isinstance(exam.rng, random.SystemRandom)


# ---------------------------------------------------------------- the services, seeded

@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(exam, "rng", random.Random(20261129))


@pytest.fixture
def ready(app, db_session, make_user):
    """A learner who finished every lesson of GX-NS-001 (pool of 10, six per attempt)."""
    with app.test_request_context():
        learner = make_user()
        c = course(db_session)
        enrollment = services.enroll(learner, c.code)
        tick = Clock()
        study_all_lessons(learner.id, c, tick)
        yield learner, c, enrollment, tick


def pool_size(db_session, c) -> int:
    return db_session.scalar(select(func.count(QuizQuestion.id)).where(QuizQuestion.course_id == c.id))


def drawn_ids(attempt) -> set[int]:
    return {item["q"] for item in attempt.layout}


def test_each_attempt_draws_fewer_questions_than_the_pool_and_a_new_set(seeded, ready, db_session):
    learner, c, enrollment, tick = ready
    assert c.exam_attempt_size == 6 and pool_size(db_session, c) == 10
    with tick():
        first = exam.start_attempt(learner, enrollment)
        assert len(first.layout) == 6 and len(drawn_ids(first)) == 6
        assert exam.start_attempt(learner, enrollment).id == first.id  # resuming keeps the draw
        exam.submit_attempt(learner, first, {})
        second = exam.start_attempt(learner, enrollment)
    assert len(second.layout) == 6
    assert drawn_ids(second) != drawn_ids(first)
    rules = exam.exam_rules(learner, c)
    assert (rules.questions, rules.pool) == (6, 10)


def test_without_an_attempt_size_an_attempt_shows_the_whole_pool(seeded, ready, db_session):
    learner, c, enrollment, tick = ready
    c.exam_attempt_size = None
    db_session.flush()
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
    assert len(attempt.layout) == pool_size(db_session, c) == 10


def test_an_attempt_size_above_what_is_left_of_the_pool_draws_the_whole_pool(seeded, ready, db_session):
    learner, c, enrollment, tick = ready
    c.exam_attempt_size = 40
    db_session.flush()
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
    assert len(attempt.layout) == 10


def test_the_score_counts_the_drawn_questions_only(seeded, ready):
    learner, c, enrollment, tick = ready
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
        answers = correct_answers(attempt)
        first_four = {qid: answers[qid] for qid in list(answers)[:4]}
        graded = exam.submit_attempt(learner, attempt, first_four)
    assert graded.score == 67 and graded.passed  # 4 of 6


def test_a_failed_attempt_shows_right_and_wrong_but_no_key(seeded, ready):
    learner, c, enrollment, tick = ready
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
        answers = correct_answers(attempt)
        one_right = dict(list(answers.items())[:1])
        failed = exam.submit_attempt(learner, attempt, one_right)
        assert not failed.passed and failed.score == 17
        shown = exam.shown_questions(failed, reveal=True)
    assert [q.is_correct for q in shown] == [True] + [False] * 5
    assert shown[0].given == "".join(one_right[str(shown[0].question_id)])
    assert all(q.given == "" for q in shown[1:])  # left blank
    assert all(q.correct_shown is None and q.explanation is None for q in shown)
    assert not any(hasattr(q, "question") for q in shown)  # no way for a template to reach the key


def test_a_passed_attempt_shows_the_key_and_the_explanations(seeded, ready):
    learner, c, enrollment, tick = ready
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
        passed = exam.submit_attempt(learner, attempt, correct_answers(attempt))
        shown = exam.shown_questions(passed, reveal=True)
    assert passed.passed and all(q.is_correct for q in shown)
    assert all(q.correct_shown == q.given for q in shown)
    assert all(q.explanation for q in shown)  # every GX-NS-001 question has one


def test_an_open_attempt_shows_no_results(seeded, ready):
    learner, c, enrollment, tick = ready
    with tick():
        attempt = exam.start_attempt(learner, enrollment)
    for reveal in (False, True):
        shown = exam.shown_questions(attempt, reveal=reveal)
        assert all(q.given is None and q.is_correct is None and q.correct_shown is None and q.explanation is None
                   for q in shown)


def test_attempts_left_counts_submitted_attempts(seeded, ready):
    learner, c, enrollment, tick = ready
    allowed = exam.exam_rules(learner, c).attempts
    assert exam.attempts_left(learner, enrollment) == allowed
    with tick():
        exam.submit_attempt(learner, exam.start_attempt(learner, enrollment), {})
        assert exam.attempts_left(learner, enrollment) == allowed - 1
        exam.start_attempt(learner, enrollment)  # open, not yet used up
    assert exam.attempts_left(learner, enrollment) == allowed - 1
