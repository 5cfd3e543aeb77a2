"""The final exam of a course: drawing an attempt, showing it, grading it on the server.

A course carries a pool of questions; each attempt draws ``course.exam_attempt_size`` of them (the
whole pool when unset) anew, so a learner who failed meets a different set next time. What a
submitted attempt shows is decided here, not in the template: see :func:`shown_questions`.

Services take the acting user as an argument and flush; the route commits.
"""

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..assessment.models import QuestionKind, QuizQuestion
from ..catalog.models import Course
from ..core import signals
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, NotAllowed, NotFound
from ..credits import services as credits
from ..extensions import db
from .models import Enrollment, QuizAttempt
from .services import course_state, get_own, lock_for_write, system_random

LETTERS = "ABCDEFGH"

# Where the draw and the option order get their randomness: the platform's SystemRandom (the
# operating system's generator, which cannot be seeded or predicted). Tests put a seeded
# ``random.Random`` here to make a draw repeatable.
rng: random.Random = system_random


@dataclass(frozen=True)
class ExamRules:
    pass_score: int
    attempts: int
    questions: int  # shown in one attempt
    pool: int  # questions the course has


def exam_rules(actor, course: Course) -> ExamRules:
    """The rule set's pass mark and attempts (a course may ask for a higher pass mark), and how many
    of the course's questions one attempt shows."""
    rule = credits.rule_set_for(actor)
    pool = db.session.scalar(select(func.count(QuizQuestion.id)).where(QuizQuestion.course_id == course.id)) or 0
    return ExamRules(pass_score=max(rule.quiz_pass_score, course.pass_score or 0), attempts=rule.quiz_attempts,
                     questions=attempt_size(course, pool), pool=pool)


def attempt_size(course: Course, pool: int) -> int:
    """Questions per attempt: the course's ``exam_attempt_size``, never more than the pool (an editor
    may have removed questions since the size was set); the whole pool when unset."""
    size = course.exam_attempt_size
    return pool if size is None else min(size, pool)


def draw_questions(pool: Sequence[QuizQuestion], size: int, rand: random.Random) -> list[QuizQuestion]:
    """``size`` questions of ``pool`` drawn at random, in random order (all of them when ``size`` is
    the pool's size or more).

    Each kind (单选, 多选, 判断) gets seats in proportion to its share of the pool, the leftover seats
    going to the largest remainders (ties broken at random); the questions of a kind are then drawn
    uniformly. So an attempt mixes the kinds as the pool does and never turns out, by chance, to be
    all true/false questions. Example: a pool of 5 single, 2 multiple and 3 true/false questions and
    an attempt of 6 — shares 3, 1.2 and 1.8 — always gives 3 single, 1 multiple and 2 true/false.
    """
    size = min(size, len(pool))
    by_kind: dict[str, list[QuizQuestion]] = defaultdict(list)
    for q in pool:
        by_kind[q.kind].append(q)
    shares = {kind: Fraction(size * len(qs), len(pool)) for kind, qs in by_kind.items()}
    seats = {kind: int(share) for kind, share in shares.items()}
    leftover = size - sum(seats.values())
    by_remainder = sorted(by_kind, key=lambda kind: (-(shares[kind] - seats[kind]), rand.random()))
    for kind in by_remainder[:leftover]:
        seats[kind] += 1
    drawn = [q for kind, qs in by_kind.items() for q in rand.sample(qs, seats[kind])]
    rand.shuffle(drawn)
    return drawn


def attempts_of(actor, enrollment: Enrollment) -> list[QuizAttempt]:
    return list(db.session.scalars(select(QuizAttempt).where(
        QuizAttempt.user_id == actor.id, QuizAttempt.enrollment_id == enrollment.id).order_by(QuizAttempt.id)))


def counted(attempts: Sequence[QuizAttempt]) -> list[QuizAttempt]:
    """The attempts that count against the rule set's limit: all but those an admin reset."""
    return [a for a in attempts if a.reset_at is None]


def attempts_left(actor, enrollment: Enrollment) -> int:
    """How many more attempts the rule set allows this learner on this course."""
    used = sum(a.submitted_at is not None for a in counted(attempts_of(actor, enrollment)))
    return max(0, exam_rules(actor, enrollment.course).attempts - used)


def _lock_enrollment(enrollment: Enrollment) -> None:
    """Starts and resets of one learner's exam one after the other (four tabs clicking 开始测验 at once
    would each see no open attempt and make one): the enrolment's row lock until the commit; the
    attempts read after it are the committed ones."""
    lock_for_write(Enrollment, enrollment.id)
    db.session.execute(select(Enrollment.id).where(Enrollment.id == enrollment.id).with_for_update())


def start_attempt(actor, enrollment: Enrollment) -> QuizAttempt:
    _lock_enrollment(enrollment)
    state = course_state(enrollment)
    if not state.has_exam:
        raise NotFound(_("本课程没有结业测验。"))
    if not state.lessons_done:
        raise Conflict(_("请先完成全部课时的学习，再参加结业测验。"))
    if state.exam_passed:
        raise Conflict(_("您已通过本课程的结业测验，无需再考。"))
    attempts = attempts_of(actor, enrollment)
    open_attempt = next((a for a in attempts if a.submitted_at is None), None)
    if open_attempt is not None:
        return open_attempt
    rules = exam_rules(actor, state.course)
    if len(counted(attempts)) >= rules.attempts:
        raise Conflict(_("结业测验最多可参加 %(attempts)s 次，您的次数已用完。如有疑问请联系所在单位或平台管理员。", attempts=rules.attempts))
    pool = list(db.session.scalars(select(QuizQuestion).where(QuizQuestion.course_id == state.course.id)
                                   .order_by(QuizQuestion.position, QuizQuestion.id)))
    layout = []
    for q in draw_questions(pool, rules.questions, rng):
        order = list(range(len(q.options)))
        if q.kind != QuestionKind.TRUE_FALSE:
            rng.shuffle(order)
        layout.append({"q": q.id, "o": order})
    attempt = QuizAttempt(user_id=actor.id, course_id=state.course.id, enrollment_id=enrollment.id,
                          layout=layout, pass_score=rules.pass_score)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def reset_attempts(actor, enrollment: Enrollment, *, reason: str) -> int:
    """An admin gives a learner their exam attempts back (a failed sitting caused by a broken
    question, an outage...): the submitted attempts stop counting against the limit; they stay on
    record, marked as reset. Refused once the exam is passed. Returns how many were reset."""
    learner = enrollment.user
    _lock_enrollment(enrollment)
    if course_state(enrollment).exam_passed:
        raise Conflict(_("%(name)s 已通过本课程的结业测验，无需重置。", name=learner.real_name))
    reset = [a for a in counted(attempts_of(learner, enrollment)) if a.submitted_at is not None]
    if not reset:
        raise Conflict(_("%(name)s 在本课程没有已计入次数的测验，无需重置。", name=learner.real_name))
    now = utcnow_naive()
    for attempt in reset:
        attempt.reset_at = now
    record_event(actor, "exam.attempts_reset", learner, course_code=enrollment.course_code,
                 enrollment_id=enrollment.id, attempts=len(reset), reason=reason)
    db.session.flush()
    return len(reset)


def get_own_attempt(actor, attempt_id: int) -> QuizAttempt:
    return get_own(QuizAttempt, attempt_id, actor, missing=_("没有找到这次测验。"), others=_("只能查看和作答自己的测验。"))


@dataclass
class ShownQuestion:
    """One question of an attempt as the learner sees it.

    It holds no reference to the stored question, so a template cannot reach the answer key: the
    key travels in ``correct_shown`` and ``explanation`` only when :func:`shown_questions` puts it there.
    """

    number: int
    question_id: int
    kind: QuestionKind
    text: str
    choices: list[tuple[str, str]]  # (letter shown, option text) or ("true"/"false", label)
    given: str | None = None  # the learner's answer in shown letters ("" when left blank)
    is_correct: bool | None = None
    correct_shown: str | None = None  # only after a passed attempt
    explanation: str | None = None  # only after a passed attempt

    @property
    def multiple(self) -> bool:
        return self.kind == QuestionKind.MULTIPLE

    @property
    def kind_label(self) -> str:
        return self.kind.label

    @property
    def chosen(self) -> set[str]:
        """The choice values the learner ticked."""
        if not self.given:
            return set()
        return {self.given} if self.kind == QuestionKind.TRUE_FALSE else set(self.given)


def shown_questions(attempt: QuizAttempt, *, reveal: bool) -> list[ShownQuestion]:
    """The questions as this attempt shows them; with ``reveal`` (a submitted attempt) also the results.

    What a submitted attempt reveals:

    - always the learner's own answer and whether it was right, question by question;
    - the correct answer and the explanation only when the attempt **passed**. After a failed
      attempt the learner sits the exam again, drawn from the same pool, and an explanation names
      the answer just as plainly as the key does, so neither is shown. A passed learner cannot take
      the exam again, and the key is then what they need to learn from their mistakes.

    (Marking a true/false question wrong necessarily tells the learner the other value; showing
    which questions were wrong is asked for, and that is its unavoidable cost.)
    """
    ids = [item["q"] for item in attempt.layout]
    questions = {q.id: q for q in db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids)))}
    results = reveal and attempt.submitted_at is not None and attempt.answers is not None
    key = results and bool(attempt.passed)
    shown = []
    for n, item in enumerate(attempt.layout, 1):
        q = questions.get(item["q"])
        if q is None:
            continue
        if q.kind == QuestionKind.TRUE_FALSE:
            choices = [("true", _("正确")), ("false", _("错误"))]
        else:
            choices = [(LETTERS[i], q.options[orig]) for i, orig in enumerate(item["o"])]
        sq = ShownQuestion(n, q.id, QuestionKind(q.kind), q.text, choices)
        if results:
            given = attempt.answers.get(str(q.id)) or ""
            sq.given = _to_shown(q, item["o"], given)
            sq.is_correct = given == _canonical(q, q.answer)
        if key:
            sq.correct_shown = _to_shown(q, item["o"], q.answer)
            sq.explanation = q.explanation or None
        shown.append(sq)
    return shown


def _canonical(q: QuizQuestion, answer: str) -> str:
    if q.kind == QuestionKind.TRUE_FALSE:
        return answer.strip().lower()
    return "".join(sorted(set(answer.strip().upper())))


def _to_shown(q: QuizQuestion, order: list[int], original: str) -> str:
    if q.kind == QuestionKind.TRUE_FALSE:
        return original
    letters = [LETTERS[order.index(LETTERS.index(ch))] for ch in original if ch in LETTERS
               and LETTERS.index(ch) in order]
    return "".join(sorted(letters))


def submit_attempt(actor, attempt: QuizAttempt, answers: dict[str, list[str]]) -> QuizAttempt:
    """Grade on the server. ``answers`` maps question id → the shown letters (or true/false) chosen."""
    if attempt.user_id != actor.id:
        raise NotAllowed(_("只能作答自己的测验。"))
    lock_for_write(QuizAttempt, attempt.id)
    attempt = db.session.scalar(select(QuizAttempt).where(QuizAttempt.id == attempt.id).with_for_update()
                                .execution_options(populate_existing=True))
    if attempt.submitted_at is not None:
        raise Conflict(_("这次测验已经提交过，不能重复提交。"))
    questions = {q.id: q for q in db.session.scalars(
        select(QuizQuestion).where(QuizQuestion.id.in_([i["q"] for i in attempt.layout])))}
    stored, correct = {}, 0
    for item in attempt.layout:
        q = questions.get(item["q"])
        if q is None:
            continue
        chosen = answers.get(str(q.id)) or []
        if q.kind == QuestionKind.TRUE_FALSE:
            original = chosen[0] if chosen and chosen[0] in ("true", "false") else ""
        else:
            picked = [LETTERS.index(c) for c in chosen if c in LETTERS[:len(item["o"])]]
            if q.kind == QuestionKind.SINGLE:
                picked = picked[:1]
            original = "".join(sorted({LETTERS[item["o"][i]] for i in picked}))
        stored[str(q.id)] = original
        if original and original == _canonical(q, q.answer):
            correct += 1
    total = len(attempt.layout) or 1
    attempt.answers = stored
    attempt.score = round(correct * 100 / total)
    attempt.passed = attempt.score >= attempt.pass_score
    attempt.submitted_at = utcnow_naive()
    db.session.flush()
    signals.quiz_attempt_finished.send(attempt)  # a passed attempt may complete the course (services)
    return attempt
