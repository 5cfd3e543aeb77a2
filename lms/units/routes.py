"""单位管理 (/unit) and 地区学时 (/region): thin views over :mod:`lms.units.services`."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.models import Role
from ..core.errors import Conflict, InvalidInput
from ..core.forms import run_service
from ..core.replica import reads_from_replica
from ..core.web import roles_required
from ..programme import services as programme
from ..programme.forms import DepartmentForm
from . import services
from .forms import DecisionForm

bp = Blueprint("units", __name__)


def _department_form(unit) -> DepartmentForm:
    form = DepartmentForm(prefix="dept", data=None if unit is None else {"department": unit.supervising_department or ""})
    form.department.choices = [("", _("（未设置）"))] + [(name, name) for name in programme.department_choices()]
    return form


def _unit_page(unit_code, *, error: str | None = None, status: int = 200, department_form=None):
    args = request.args
    try:
        board = services.unit_dashboard(current_user, unit_code, year=args.get("year"), search=args.get("q", ""),
                                        page=args.get("page"))
    except InvalidInput as exc:
        if unit_code and current_user.has_role(Role.ADMIN) and exc.field == "unit":
            return render_template("units/choose_unit.html", units=[], code=unit_code, error=exc.message), 400
        raise
    if board is None:
        return render_template("units/choose_unit.html", units=services.managed_units(current_user),
                               code="", error=None)
    return render_template("units/unit.html", b=board, error=error,
                           department_form=department_form or _department_form(board.unit)), status


@bp.get("/unit")
@roles_required(Role.UNIT_ADMIN, Role.ADMIN)
@reads_from_replica
def unit_dashboard():
    return _unit_page(request.args.get("unit"))


def _decide(code: str, learner_id: int, approve: bool):
    form = DecisionForm()
    decided = run_service(lambda: services.decide_employment(current_user, code, learner_id, approve=approve,
                                                             reason=form.reason.data or ""),
                          refusals=(Conflict, InvalidInput))
    if not decided:  # nothing was changed; say why on the unit page
        return _unit_page(code, error=decided.error.message, status=decided.status)
    learner = decided.value
    if approve:
        flash(_("已确认 %(real_name)s 为本单位人员，其学时将计入本单位统计。", real_name=learner.real_name), "success")
    else:
        flash(_("已将 %(real_name)s 标记为未通过，学员会在个人信息页看到原因。", real_name=learner.real_name), "info")
    return redirect(url_for("units.unit_dashboard", unit=code, year=request.args.get("year")), 303)


@bp.post("/unit/<code>/learners/<int:learner_id>/approve")
@roles_required(Role.UNIT_ADMIN, Role.ADMIN)
def approve(code: str, learner_id: int):
    return _decide(code, learner_id, True)


@bp.post("/unit/<code>/learners/<int:learner_id>/reject")
@roles_required(Role.UNIT_ADMIN, Role.ADMIN)
def reject(code: str, learner_id: int):
    return _decide(code, learner_id, False)


@bp.post("/unit/<code>/department")
@roles_required(Role.UNIT_ADMIN, Role.ADMIN)
def set_department(code: str):
    unit = services.authorize_unit(current_user, code)
    form = _department_form(unit)
    done = run_service(lambda: programme.set_supervising_department(current_user, unit, form.department.data or ""),
                       refusals=(InvalidInput,))
    if not done:
        return _unit_page(code, error=done.error.message, status=done.status, department_form=form)
    flash(_("已保存主管部门：%(name)s。", name=unit.supervising_department or _("（未设置）")), "success")
    return redirect(url_for("units.unit_dashboard", unit=code), 303)


@bp.get("/region")
@roles_required(Role.HR_AUDITOR, Role.ADMIN)
@reads_from_replica
def region_dashboard():
    args = request.args
    code = args.get("region")
    try:
        board = services.region_dashboard(current_user, code, year=args.get("year"), search=args.get("q", ""),
                                          page=args.get("page"), unit_page=args.get("upage"))
    except InvalidInput as exc:
        if code and current_user.has_role(Role.ADMIN) and exc.field == "region":
            return render_template("units/choose_region.html", regions=services.all_regions(), code=code,
                                   error=exc.message), 400
        raise
    if board is None:
        admin = current_user.has_role(Role.ADMIN)
        return render_template("units/choose_region.html", code="", error=None,
                               regions=services.all_regions() if admin else services.managed_regions(current_user))
    return render_template("units/region.html", b=board)
