"""The final exam of a course: drawing an attempt, showing it, grading it on the server.

Services take the acting user as an argument and flush; the route commits.
"""

from dataclasses import dataclass

from sqlalchemy import select

from ..assessment.models import QuestionKind, QuizQuestion
from ..catalog.models import Course
from ..core import signals
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, NotAllowed, NotFound
from ..credits import services as credits
from ..extensions import db
from .models import Enrollment, QuizAttempt
from .services import _lock_for_write, _random, complete_course_if_done, course_state

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class ExamRules:
    pass_score: int
    attempts: int


def exam_rules(actor, course: Course) -> ExamRules:
    """The rule set's pass mark and attempts; a course may ask for a higher pass mark."""
    rule = credits.rule_set_for(actor)
    return ExamRules(pass_score=max(rule.quiz_pass_score, course.pass_score or 0), attempts=rule.quiz_attempts)


def attempts_of(actor, enrollment: Enrollment) -> list[QuizAttempt]:
    return list(db.session.scalars(select(QuizAttempt).where(
        QuizAttempt.user_id == actor.id, QuizAttempt.enrollment_id == enrollment.id).order_by(QuizAttempt.id)))


def start_attempt(actor, enrollment: Enrollment) -> QuizAttempt:
    state = course_state(enrollment)
    if not state.has_exam:
        raise NotFound("本课程没有结业测验。")
    if not state.lessons_done:
        raise Conflict("请先完成全部课时的学习，再参加结业测验。")
    if state.exam_passed:
        raise Conflict("您已通过本课程的结业测验，无需再考。")
    attempts = attempts_of(actor, enrollment)
    open_attempt = next((a for a in attempts if a.submitted_at is None), None)
    if open_attempt is not None:
        return open_attempt
    rules = exam_rules(actor, state.course)
    if len(attempts) >= rules.attempts:
        raise Conflict(f"结业测验最多可参加 {rules.attempts} 次，您的次数已用完。如有疑问请联系所在单位或平台管理员。")
    questions = list(db.session.scalars(select(QuizQuestion).where(QuizQuestion.course_id == state.course.id)))
    _random.shuffle(questions)
    layout = []
    for q in questions:
        order = list(range(len(q.options)))
        if q.kind != QuestionKind.TRUE_FALSE:
            _random.shuffle(order)
        layout.append({"q": q.id, "o": order})
    attempt = QuizAttempt(user_id=actor.id, course_id=state.course.id, enrollment_id=enrollment.id,
                          layout=layout, pass_score=rules.pass_score)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def get_own_attempt(actor, attempt_id: int) -> QuizAttempt:
    attempt = db.session.get(QuizAttempt, attempt_id)
    if attempt is None:
        raise NotFound("没有找到这次测验。")
    if attempt.user_id != actor.id:
        raise NotAllowed("只能查看和作答自己的测验。")
    return attempt


@dataclass
class ShownQuestion:
    number: int
    question: QuizQuestion
    choices: list[tuple[str, str]]  # (letter shown, option text) or ("true"/"false", label)
    multiple: bool
    given: str | None = None  # answer in shown letters
    correct_shown: str | None = None
    is_correct: bool | None = None


def shown_questions(attempt: QuizAttempt, *, reveal: bool) -> list[ShownQuestion]:
    """The questions as this attempt shows them. Answers are only included when ``reveal``."""
    ids = [item["q"] for item in attempt.layout]
    questions = {q.id: q for q in db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids)))}
    shown = []
    for n, item in enumerate(attempt.layout, 1):
        q = questions.get(item["q"])
        if q is None:
            continue
        if q.kind == QuestionKind.TRUE_FALSE:
            choices = [("true", "正确"), ("false", "错误")]
        else:
            choices = [(LETTERS[i], q.options[orig]) for i, orig in enumerate(item["o"])]
        sq = ShownQuestion(n, q, choices, q.kind == QuestionKind.MULTIPLE)
        if reveal and attempt.answers is not None:
            sq.given = _to_shown(q, item["o"], attempt.answers.get(str(q.id)) or "")
            sq.correct_shown = _to_shown(q, item["o"], q.answer)
            sq.is_correct = (attempt.answers.get(str(q.id)) or "") == _canonical(q, q.answer)
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
        raise NotAllowed("只能作答自己的测验。")
    _lock_for_write(QuizAttempt, attempt.id)
    attempt = db.session.scalar(select(QuizAttempt).where(QuizAttempt.id == attempt.id).with_for_update()
                                .execution_options(populate_existing=True))
    if attempt.submitted_at is not None:
        raise Conflict("这次测验已经提交过，不能重复提交。")
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
    signals.quiz_attempt_finished.send(attempt)
    if attempt.passed:
        complete_course_if_done(db.session.get(Enrollment, attempt.enrollment_id))
    return attempt
