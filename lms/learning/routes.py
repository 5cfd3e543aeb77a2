"""Learner pages: enrol, my learning, the player, the final exam."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..catalog.models import LessonKind
from ..core.forms import run_service
from ..core.web import commit
from ..credits.services import rule_set_for
from ..extensions import db
from . import exam as exams
from . import play, services

bp = Blueprint("learning", __name__)


@bp.post("/learn/<code>/enrol")
@login_required
def enrol(code: str):
    enrollment = services.enroll(current_user, code)
    commit()
    flash(_("报名成功，课程已加入“我的学习”。"), "success")
    return redirect(url_for("learning.course_home", code=enrollment.course_code))


@bp.get("/my/learning")
@login_required
def my_learning():
    return render_template("learning/my_learning.html", courses=services.my_learning(current_user))


@bp.get("/learn/<code>")
@login_required
def course_home(code: str):
    enrollment = services.require_enrollment(current_user, code)
    state = services.course_state(enrollment)
    lesson = state.resume_lesson
    if lesson is None:
        abort(404)
    return redirect(url_for("learning.player", code=code, lesson_id=lesson.id))


@bp.get("/learn/<code>/<int:lesson_id>")
@login_required
def player(code: str, lesson_id: int):
    enrollment = services.require_enrollment(current_user, code)
    lesson = play.load_lesson(enrollment, lesson_id)
    state = services.course_state(enrollment)
    rule = rule_set_for(current_user)
    next_lesson = state.next_lesson(lesson.id)
    return render_template(
        "learning/player.html", state=state, lesson=lesson, current=state.state_of(lesson.id), rule=rule,
        next_lesson=next_lesson, LessonKind=LessonKind,
        heartbeat_seconds=services.heartbeat_seconds(), reading_seconds=services.reading_min_seconds())


@bp.get("/learn/<code>/exam")
@login_required
def exam(code: str):
    enrollment = services.require_enrollment(current_user, code)
    state = services.course_state(enrollment)
    if not state.has_exam:
        abort(404)
    return render_template("learning/exam.html", state=state, attempts=exams.attempts_of(current_user, enrollment),
                           rules=exams.exam_rules(current_user, state.course))


@bp.post("/learn/<code>/exam")
@login_required
def start_exam(code: str):
    enrollment = services.require_enrollment(current_user, code)
    started = run_service(lambda: exams.start_attempt(current_user, enrollment))
    if not started:
        flash(started.error.message, "warning")
        return redirect(url_for("learning.exam", code=code))
    return redirect(url_for("learning.attempt", attempt_id=started.value.id))


@bp.get("/learn/exam/<int:attempt_id>")
@login_required
def attempt(attempt_id: int):
    attempt = exams.get_own_attempt(current_user, attempt_id)
    enrollment = db.session.get(services.Enrollment, attempt.enrollment_id)
    submitted = attempt.submitted_at is not None
    # The service decides what a submitted attempt reveals (no answer key after a failed one).
    return render_template("learning/attempt.html", attempt=attempt, enrollment=enrollment,
                           questions=exams.shown_questions(attempt, reveal=submitted), submitted=submitted,
                           state=services.course_state(enrollment) if submitted else None,
                           attempts_left=exams.attempts_left(current_user, enrollment)
                           if submitted and not attempt.passed else None)


@bp.post("/learn/exam/<int:attempt_id>")
@login_required
def submit_exam(attempt_id: int):
    attempt = exams.get_own_attempt(current_user, attempt_id)
    answers = {key[2:]: request.form.getlist(key) for key in request.form if key.startswith("q-")}
    attempt = exams.submit_attempt(current_user, attempt, answers)
    commit()
    current_app.logger.info("exam attempt %s submitted: %s", attempt.id, attempt.score)
    return redirect(url_for("learning.attempt", attempt_id=attempt.id))


