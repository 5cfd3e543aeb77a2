"""计划完成情况 (/programme): the programme office's dashboard, the units and courses behind a cell,
the XLSX file, and the plans with their import. Thin views over :mod:`lms.programme.services`."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.models import Role
from ..catalog.models import Domain
from ..core.forms import run_form
from ..core.web import roles_required
from ..exports.services import content_disposition
from . import services
from .forms import PlanImportForm
from .models import NATIONAL

bp = Blueprint("programme", __name__, url_prefix="/programme")

OFFICE = (Role.PROGRAMME_OFFICE, Role.ADMIN)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/")
@roles_required(*OFFICE)
def dashboard():
    board = services.fulfilment(current_user, scope=request.args.get("scope"), year=request.args.get("year"))
    return render_template("programme/dashboard.html", b=board)


@bp.get("/cell")
@roles_required(*OFFICE)
def cell():
    args = request.args
    detail = services.cell_detail(current_user, scope=args.get("scope"), year=args.get("year"),
                                  department=args.get("department", ""), domain=args.get("domain", ""))
    return render_template("programme/cell.html", d=detail)


@bp.get("/export.xlsx")
@roles_required(*OFFICE)
def export():
    board = services.fulfilment(current_user, scope=request.args.get("scope"), year=request.args.get("year"))
    name = services.fulfilment_file_name(board)
    response = Response(services.write_fulfilment_xlsx(board), mimetype=XLSX)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _import_form() -> PlanImportForm:
    form = PlanImportForm()
    form.scope.choices = services.scope_choices(current_user)
    return form


def _plans_page(form: PlanImportForm, status: int = 200):
    scopes = [scope for scope, _label in services.scope_choices(current_user)]
    return render_template("programme/plans.html", form=form, plans=services.plans_of(scopes), domains=list(Domain),
                           scope_label=services.scope_label, national=NATIONAL), status


@bp.get("/plans")
@roles_required(*OFFICE)
def plans():
    return _plans_page(_import_form())


@bp.post("/plans")
@roles_required(*OFFICE)
def import_plan():
    form = _import_form()
    upload = form.file.data
    data = upload.read() if upload else b""
    done = run_form(form, lambda: services.import_plan(current_user, form.year.data, data,
                                                       scope=form.scope.data or "",
                                                       source_name=getattr(upload, "filename", "") or ""),
                    field="file")
    if done:
        plan = done.value
        flash(_("已导入 %(year)s 年度%(scope)s计划：%(n)s 个部门。", year=plan.year,
                scope=services.scope_label(plan.scope), n=len(plan.departments)), "success")
        return redirect(url_for("programme.dashboard", scope=plan.scope, year=plan.year), 303)
    return _plans_page(form, done.status)
