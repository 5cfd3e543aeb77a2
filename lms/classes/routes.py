"""Seminar and class pages: the public list, applying, the host's programme, selection and sessions,
the host's attendance screen (QR code rotating every 20 s, live count), the learner's scan page."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..core.errors import DomainError, InvalidInput
from ..core.forms import run_form
from ..core.web import public_url, roles_required
from . import services
from .forms import ApplyForm, ManualAttendanceForm, ProgrammeForm, ScanForm, SelectForm, SessionForm

bp = Blueprint("classes", __name__)


# ---------------------------------------------------------------- everyone and the learner

@bp.get("/classes")
def programmes():
    return render_template("classes/programmes.html", programmes=services.open_programmes())


def _programme_page(programme, form, status: int = 200):
    application = services.application_of(current_user, programme)
    problem = services.eligibility_problem(current_user, programme) \
        if current_user.is_authenticated and application is None else None
    return render_template("classes/programme.html", programme=programme, form=form, application=application,
                           problem=problem), status


@bp.get("/classes/<int:programme_id>")
def programme(programme_id: int):
    return _programme_page(services.public_programme(programme_id), ApplyForm())


@bp.post("/classes/<int:programme_id>/apply")
@login_required
def apply(programme_id: int):
    programme = services.public_programme(programme_id)
    form = ApplyForm()
    done = run_form(form, lambda: services.apply(current_user, programme_id, statement=form.statement.data,
                                                 groups=form.groups.data or []))
    if done:
        flash(_("报名已提交。遴选结果会显示在“我的研修与培训”中。"), "success")
        return redirect(url_for("classes.my_classes"), 303)
    if done.error is not None and not isinstance(done.error, InvalidInput):
        raise done.error  # not theirs to apply (any more): the error page says why
    return _programme_page(programme, form, done.status)


@bp.get("/me/classes")
@login_required
def my_classes():
    rows = []
    for application in services.my_applications(current_user):
        programme = application.programme
        attended = services.attendances_of(current_user.id, programme)
        rows.append((application, attended, services.completed(programme, len(attended)),
                     services.programme_certificate(current_user.id, programme),
                     services.credited_for(current_user.id, programme)))
    return render_template("classes/my_classes.html", rows=rows,
                           per_programme=services.credits_per_programme(current_user))


# ---------------------------------------------------------------- the host

@bp.route("/classes/manage", methods=["GET", "POST"])
@roles_required(Role.BASE_ADMIN)
def manage():
    organizations = services.host_organizations(current_user)
    if not organizations:
        abort(403)
    form = ProgrammeForm(organizations=organizations)

    def create():
        data = services.ProgrammeData(
            organization_id=form.organization_id.data, kind=form.kind.data, title=form.title.data,
            domain=form.domain.data, place=form.place.data, starts_on=form.starts_on.data, ends_on=form.ends_on.data,
            category=form.category.data, quota=form.quota.data, min_title_level=form.min_title_level.data,
            required_percent=form.required_percent.data, description=form.description.data)
        return services.create_programme(current_user, data)

    done = run_form(form, create)
    if done:
        flash(_("项目已创建，请添加课次。"), "success")
        return redirect(url_for("classes.manage_programme", programme_id=done.value.id), 303)
    return render_template("classes/manage.html", form=form,
                           programmes=services.hosted_programmes(current_user)), done.status


def _manage_page(programme, session_form=None, select_form=None, status: int = 200):
    ranked = services.ranked_applications(programme)
    waiting = [a for a in ranked if a.status == "applied"]
    return render_template("classes/manage_programme.html", programme=programme, ranked=ranked,
                           session_form=session_form or SessionForm(formdata=None),
                           select_form=select_form or SelectForm(formdata=None, applications=waiting),
                           counts={s.id: services.attendance_count(s) for s in programme.sessions}), status


@bp.get("/classes/<int:programme_id>/manage")
@login_required
def manage_programme(programme_id: int):
    return _manage_page(services.programme_to_manage(current_user, programme_id))


@bp.post("/classes/<int:programme_id>/sessions")
@login_required
def add_session(programme_id: int):
    programme = services.programme_to_manage(current_user, programme_id)
    form = SessionForm()
    done = run_form(form, lambda: services.add_session(current_user, programme, services.SessionData(
        title=form.title.data, day=form.day.data, starts=form.starts.data, ends=form.ends.data,
        hours=form.hours.data)))
    if done:
        flash(_("课次已添加。"), "success")
        return redirect(url_for("classes.manage_programme", programme_id=programme_id), 303)
    return _manage_page(programme, session_form=form, status=done.status)


@bp.post("/classes/<int:programme_id>/select")
@login_required
def select(programme_id: int):
    programme = services.programme_to_manage(current_user, programme_id)
    waiting = [a for a in services.ranked_applications(programme) if a.status == "applied"]
    form = SelectForm(applications=waiting)
    done = run_form(form, lambda: services.select_applicants(current_user, programme_id, form.applications.data or []),
                    field="applications")
    if done:
        flash(_("遴选结果已保存，报名者可在“我的研修与培训”中看到结果。"), "success")
        return redirect(url_for("classes.manage_programme", programme_id=programme_id), 303)
    return _manage_page(programme, select_form=form, status=done.status)


def _screen_state(session) -> dict:
    code = services.screen_code(session)
    url = public_url("classes.attend", session_id=session.id, t=code.token)  # never the request's Host
    return {"qr": services.qr_data_uri(url), "seconds_left": code.seconds_left,
            "rotate_seconds": services.ROTATE_SECONDS, "count": services.attendance_count(session),
            "expected": len(services.accepted_learners(session.programme))}


@bp.get("/classes/sessions/<int:session_id>/screen")
@login_required
def screen(session_id: int):
    session = services.session_to_manage(current_user, session_id)
    start, end = services.session_window_label(session)
    return render_template("classes/screen.html", session=session, state=_screen_state(session), start=start,
                           end=end, form=ManualAttendanceForm(formdata=None, learners=_absent(session)))


@bp.get("/classes/sessions/<int:session_id>/code")
@login_required
def screen_code(session_id: int):
    """The screen's next code and the live count, fetched by the page every 20 s."""
    session = services.session_to_manage(current_user, session_id)
    response = jsonify(_screen_state(session))
    response.headers["Cache-Control"] = "no-store"
    return response


def _absent(session):
    return [user for user, attendance in services.session_roll(session) if attendance is None]


@bp.post("/classes/sessions/<int:session_id>/attendance")
@login_required
def record_by_hand(session_id: int):
    session = services.session_to_manage(current_user, session_id)
    form = ManualAttendanceForm(learners=_absent(session))
    done = run_form(form, lambda: services.record_by_hand(current_user, session_id, form.learner.data,
                                                          form.reason.data))
    if done:
        flash(_("已补录 %(name)s 的签到。", name=done.value.attendance.user.real_name), "success")
    else:
        errors = [e for f in form for e in f.errors] + list(form.form_errors)
        flash(errors[0] if errors else _("补录没有成功，请重试。"), "danger")
    return redirect(url_for("classes.screen", session_id=session_id), 303)


# ---------------------------------------------------------------- the learner's scan (phone width)

@bp.get("/classes/sessions/<int:session_id>/attend")
@login_required
def attend(session_id: int):
    """What the QR code opens: says whether the code is still good, with one button to sign in."""
    session = services.scan_session(session_id)
    token = request.args.get("t", "")
    try:
        services.check_token(session.id, token)
        problem = None
    except DomainError as refused:
        problem = refused.message
    return render_template("classes/attend.html", session=session, form=ScanForm(formdata=None, token=token),
                           problem=problem, recorded=None), 400 if problem else 200


@bp.post("/classes/sessions/<int:session_id>/attend")
@login_required
def attend_post(session_id: int):
    session = services.scan_session(session_id)
    form = ScanForm()
    done = run_form(form, lambda: services.record_scan(current_user, session_id, form.token.data or ""))
    problem = None
    if not done:
        problem = done.error.message if isinstance(done.error, DomainError) else \
            (list(form.form_errors) or [_("签到没有成功，请重新扫描屏幕上的二维码。")])[0]
    return render_template("classes/attend.html", session=session, form=form, problem=problem,
                           recorded=done.value if done else None), done.status
