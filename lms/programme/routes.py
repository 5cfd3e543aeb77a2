"""计划完成情况 (/programme): the programme office's dashboard, the units and courses behind a cell,
the XLSX file, and the plans with their import; the continuing-education bases (public list and
history, the offices' registry, evaluations, status and withdrawal). Thin views over :mod:`lms.programme.services`."""


from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.models import Role
from ..catalog.models import Domain
from ..core import attachments
from ..core.clock import utcnow_naive
from ..core.forms import run_action, run_form, run_service
from ..core.web import FORM_OVERHEAD_BYTES, body_limit, roles_required
from ..exports.services import content_disposition
from ..extensions import limiter
from . import bases as bases_service
from . import inspections as inspections_service
from . import institution_codes, services
from . import institutions as institutions_service
from .forms import (
    BaseForm,
    BaseStatusForm,
    CancelPlanForm,
    EvaluationForm,
    FindingForm,
    InspectionPlanForm,
    InstitutionChangeForm,
    InstitutionForm,
    NotInspectedForm,
    PlanImportForm,
    RevealForm,
    WithdrawForm,
)
from .models import (
    NATIONAL,
    BaseEventKind,
    BaseLevel,
    BaseStatus,
    DigitalField,
    EvaluationResult,
    FindingResult,
    InspectionPopulation,
    InspectionStatus,
    InstitutionChangeKind,
    InstitutionKind,
    InstitutionStatus,
)

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


# ---------------------------------------------------------------- continuing-education bases (继续教育基地)

BASE_READERS = (Role.PROGRAMME_OFFICE, Role.ADMIN, Role.BASE_ADMIN)


@bp.context_processor
def _base_labels():
    """The bases' enumerations, to show a stored value's label."""
    return {"status_enum": BaseStatus, "level_enum": BaseLevel, "result_enum": EvaluationResult,
            "event_enum": BaseEventKind, "max_attachments": bases_service.MAX_ATTACHMENTS,
            "institution_kinds": InstitutionKind, "institution_statuses": InstitutionStatus,
            "institution_changes": InstitutionChangeKind, "digital_fields": DigitalField,
            "example_code": institution_codes.EXAMPLE}


@bp.get("/bases")
def bases():
    """The public list of bases with their status (no sign-in)."""
    args = request.args
    found = bases_service.public_bases(q=args.get("q", ""), level=args.get("level", ""), status=args.get("status", ""))
    return render_template("programme/bases.html", bases=found, q=args.get("q", ""), level=args.get("level", ""),
                           status=args.get("status", ""), levels=list(BaseLevel), statuses=list(BaseStatus))


@bp.get("/bases/<int:base_id>")
def base_history(base_id: int):
    """A base's public history: recognition, status changes, evaluations' results, withdrawal."""
    return render_template("programme/base_history.html", base=bases_service.public_base(base_id))


def _base_form() -> BaseForm:
    form = BaseForm(prefix="base")
    form.level.choices = [(level.value, level.label) for level in BaseLevel]
    form.region_code.choices = [("", _("（国家级基地可不选）")), *bases_service.region_choices()]
    return form


def _manage_list(form: BaseForm | None, status: int = 200):
    year, rows = bases_service.managed_bases(current_user, request.args.get("year"))
    return render_template("programme/bases_manage.html", year=year, rows=rows, form=form,
                           may_register=bases_service.may_register(current_user)), status


@bp.get("/bases/manage")
@roles_required(*BASE_READERS)
def manage_bases():
    return _manage_list(_base_form() if bases_service.may_register(current_user) else None)


@bp.post("/bases/manage")
@roles_required(Role.PROGRAMME_OFFICE, Role.ADMIN)
def register_base():
    form = _base_form()
    done = run_form(form, lambda: bases_service.register_base(current_user, bases_service.BaseData(
        organization_name=form.organization_name.data or "", credit_code=form.credit_code.data or "",
        level=form.level.data or "", region_code=form.region_code.data or "",
        recognised_on=form.recognised_on.data or "", document_number=form.document_number.data or "")))
    if done:
        flash(_("已登记继续教育基地：%(name)s。", name=done.value.organization.name), "success")
        return redirect(url_for("programme.manage_base", base_id=done.value.id), 303)
    return _manage_list(form, done.status)


def _base_forms(base) -> dict:
    evaluation = EvaluationForm(prefix="eval")
    evaluation.result.choices = [(r.value, r.label) for r in EvaluationResult]
    status = BaseStatusForm(prefix="status")
    status.status.choices = [(s.value, s.label) for s in BaseStatus if s not in (BaseStatus.WITHDRAWN, base.status)]
    return {"evaluation": evaluation, "status": status, "withdraw": WithdrawForm(prefix="withdraw")}


def _base_page(base, forms: dict | None = None, status: int = 200):
    forms = forms or _base_forms(base)
    years = [bases_service.default_year() - n for n in range(3)]
    return render_template("programme/base_manage.html", base=base, forms=forms,
                           standings=bases_service.standings([base], years[0])
                           + bases_service.standings([base], years[1]) + bases_service.standings([base], years[2]),
                           manages=bases_service.can_manage(current_user, base)), status


@bp.get("/bases/<int:base_id>/manage")
@roles_required(*BASE_READERS)
def manage_base(base_id: int):
    return _base_page(bases_service.load_base(current_user, base_id))


def _attachments_cap() -> int | None:
    """The body cap of the evaluation form: its attachments at their size limit, for offices and admins only."""
    if not current_user.is_authenticated or not (current_user.has_role(Role.PROGRAMME_OFFICE)
                                                 or current_user.has_role(Role.ADMIN)):
        return None
    return (bases_service.MAX_ATTACHMENTS * current_app.config["LMS_BASE_ATTACHMENT_MAX_MB"] * 1024 * 1024
            + FORM_OVERHEAD_BYTES)


def _base_action(base_id: int, which: str, action, done_message):
    """One of the base page's forms posted: ``action(base, form)`` under the form's checks; back to the
    base with ``done_message(base, value)`` flashed, or the page again with the form's errors."""
    base = bases_service.load_base(current_user, base_id, manage=True)
    forms = _base_forms(base)
    form = forms[which]
    done = run_form(form, lambda: action(base, form))
    if done:
        flash(done_message(base, done.value), "success")
        return redirect(url_for("programme.manage_base", base_id=base.id), 303)
    return _base_page(base, forms, done.status)


@bp.post("/bases/<int:base_id>/evaluations")
@body_limit(_attachments_cap)
@roles_required(Role.PROGRAMME_OFFICE, Role.ADMIN)
def add_evaluation(base_id: int):
    def record(base, form):
        uploads = [attachments.Upload(f.filename, f.stream)
                   for f in request.files.getlist(form.attachments.name) if f and f.filename]
        return bases_service.record_evaluation(current_user, base, bases_service.EvaluationData(
            year=form.year.data or "", score=form.score.data or "", result=form.result.data or "",
            evaluator=form.evaluator.data or "", evaluated_on=form.evaluated_on.data or "",
            note=form.note.data or ""), uploads)

    return _base_action(base_id, "evaluation", record,
                        lambda base, evaluation: _("已录入 %(year)s 年度评估。", year=evaluation.year))


@bp.post("/bases/<int:base_id>/status")
@roles_required(Role.PROGRAMME_OFFICE, Role.ADMIN)
def change_base_status(base_id: int):
    return _base_action(
        base_id, "status",
        lambda base, form: bases_service.change_status(current_user, base, form.status.data, form.on.data,
                                                       form.note.data or ""),
        lambda base, _value: _("基地状态已调整为“%(status)s”。", status=BaseStatus(base.status).label))


@bp.post("/bases/<int:base_id>/withdraw")
@roles_required(Role.PROGRAMME_OFFICE, Role.ADMIN)
def withdraw_base(base_id: int):
    return _base_action(
        base_id, "withdraw",
        lambda base, form: bases_service.withdraw_base(current_user, base, form.on.data, form.reason.data),
        lambda base, _value: _("已撤销该基地的认定。"))


@bp.get("/bases/attachments/<int:attachment_id>")
@roles_required(*BASE_READERS)
def base_attachment(attachment_id: int):
    """An evaluation's file, always as a download (never shown inline), for those who may see the base."""
    attachment = bases_service.load_attachment(current_user, attachment_id)
    return attachments.download(attachment.path, attachment.content_type, attachment.filename)


# ---------------------------------------------------------------- institution directories (机构目录)

INSTITUTION_OFFICES = (Role.PROGRAMME_OFFICE, Role.ADMIN)


def _directory_filters() -> dict:
    args = request.args
    return {name: args.get(name, "") for name in ("q", "kind", "region", "field", "status")}


@bp.get("/institutions")
def institutions():
    """The public directory of training and evaluation institutions (no sign-in)."""
    found = institutions_service.search(**_directory_filters())
    return render_template("programme/institutions.html", s=found, manage=False, form=None,
                           regions=institutions_service.region_choices(None))


@bp.get("/institutions/<code>")
def institution(code: str):
    """An entry with its dated history of changes."""
    entry = institutions_service.get_institution(code)
    may_change = current_user.is_authenticated and institutions_service.may_manage(current_user) \
        and institutions_service.can_change(current_user, entry)
    return render_template("programme/institution.html", i=entry, may_change=may_change,
                           change_form=InstitutionChangeForm(prefix="change"))


def _institution_form() -> InstitutionForm:
    form = InstitutionForm(prefix="inst")
    form.kind.choices = [(k.value, k.label) for k in InstitutionKind]
    form.region_code.choices = institutions_service.region_choices(current_user)
    form.fields.choices = [(f.value, f.label) for f in DigitalField]
    return form


def _directory_page(form: InstitutionForm, status: int = 200):
    found = institutions_service.search(**_directory_filters(), actor=current_user)
    return render_template("programme/institutions.html", s=found, manage=True, form=form,
                           regions=institutions_service.region_choices(current_user)), status


@bp.get("/institutions/manage")
@roles_required(*INSTITUTION_OFFICES)
def manage_institutions():
    return _directory_page(_institution_form())


@bp.post("/institutions/manage")
@roles_required(*INSTITUTION_OFFICES)
def list_institution():
    form = _institution_form()
    done = run_form(form, lambda: institutions_service.list_institution(current_user, institutions_service.InstitutionData(
        kind=form.kind.data or "", name=form.name.data or "", credit_code=form.credit_code.data or "",
        region_code=form.region_code.data or "", fields=list(form.fields.data or []), reason=form.reason.data or "")))
    if done:
        flash(_("已列入目录：%(name)s，机构代码 %(code)s。", name=done.value.name, code=done.value.code), "success")
        return redirect(url_for("programme.institution", code=done.value.code), 303)
    return _directory_page(form, done.status)


def _change_institution(code: str, change):
    entry = institutions_service.get_institution(code)
    form = InstitutionChangeForm(prefix="change")
    done = run_form(form, lambda: change(current_user, entry, form.reason.data or ""))
    if done:
        flash(_("机构“%(name)s”现为“%(status)s”。", name=entry.name, status=InstitutionStatus(entry.status).label),
              "success")
        return redirect(url_for("programme.institution", code=entry.code), 303)
    return render_template("programme/institution.html", i=entry, may_change=True, change_form=form), done.status


@bp.post("/institutions/<code>/suspend")
@roles_required(*INSTITUTION_OFFICES)
def suspend_institution(code: str):
    return _change_institution(code, institutions_service.suspend_institution)


@bp.post("/institutions/<code>/restore")
@roles_required(*INSTITUTION_OFFICES)
def restore_institution(code: str):
    return _change_institution(code, institutions_service.restore_institution)


# ---------------------------------------------------------------- random inspections (双随机、一公开)

@bp.context_processor
def _inspection_labels():
    return {"inspection_populations": InspectionPopulation, "inspection_statuses": InspectionStatus,
            "finding_results": FindingResult}


def _inspection_rate_limit() -> str:
    return current_app.config["LMS_INSPECTION_PUBLIC_RATE_LIMIT"]


@bp.get("/inspections")
@limiter.limit(_inspection_rate_limit)
def inspections():
    """The public list of inspection plans whose population and commitment are published."""
    return render_template("programme/inspections.html", plans=inspections_service.public_plans())


@bp.get("/inspections/<int:plan_id>")
@limiter.limit(_inspection_rate_limit)
def inspection(plan_id: int):
    """A plan's public page: the frozen population (a page at a time) and pool, the commitment, the
    revealed seed, the draw checked by recomputing it (once), and the findings once the plan is closed (一公开)."""
    plan = inspections_service.public_plan(plan_id)
    page = request.args.get("page", "1")
    entries, pages = inspections_service.population_page(plan, int(page) if page.isdigit() else 1)
    return render_template("programme/inspection.html", plan=plan, check=inspections_service.check_draw(plan),
                           findings=inspections_service.public_findings(plan), entries=entries, pages=pages,
                           page=min(max(int(page) if page.isdigit() else 1, 1), pages),
                           page_size=inspections_service.PAGE_SIZE,
                           population_size=inspections_service.population_size(plan),
                           pool_id=inspections_service.pool_id, public_notes=inspections_service.public_notes,
                           public_inspector=inspections_service.public_inspector,
                           scope=inspections_service.scope_label(plan.scope))


@bp.get("/inspections/<int:plan_id>/draw.json")
@limiter.limit(_inspection_rate_limit)
def inspection_document(plan_id: int):
    """The published document that scripts/verify_draw.py checks, as stored at freeze and at the draw."""
    plan = inspections_service.public_plan(plan_id)
    response = current_app.response_class(inspections_service.document_text(plan), mimetype="application/json")
    response.headers["Content-Disposition"] = content_disposition(f"inspection-{plan.id}-draw.json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _inspection_plan_form() -> InspectionPlanForm:
    form = InspectionPlanForm(prefix="plan")
    form.scope.choices = inspections_service.scope_choices(current_user)
    form.population.choices = [(p.value, p.label) for p in InspectionPopulation]
    return form


def _inspection_plans_page(form: InspectionPlanForm, status: int = 200):
    return render_template("programme/inspections_manage.html", form=form,
                           plans=inspections_service.plans_for(current_user),
                           scope_label=inspections_service.scope_label), status


@bp.get("/inspections/manage")
@roles_required(*OFFICE)
def manage_inspections():
    return _inspection_plans_page(_inspection_plan_form())


@bp.post("/inspections/manage")
@roles_required(*OFFICE)
def create_inspection():
    form = _inspection_plan_form()
    done = run_form(form, lambda: inspections_service.create_plan(current_user, inspections_service.PlanData(
        title=form.title.data or "", scope=form.scope.data or "", population=form.population.data or "",
        year=form.year.data or "", target_count=form.target_count.data or "",
        inspectors_per_target=form.inspectors_per_target.data or "")))
    if done:
        flash(_("已建立抽查计划：%(title)s。", title=done.value.title), "success")
        return redirect(url_for("programme.manage_inspection", plan_id=done.value.id), 303)
    return _inspection_plans_page(form, done.status)


def _inspection_page(plan, reveal: RevealForm | None = None, status: int = 200, not_inspected=None, cancel=None):
    return render_template("programme/inspection_manage.html", plan=plan, reveal=reveal or RevealForm(prefix="reveal"),
                           not_inspected=not_inspected or NotInspectedForm(prefix="left"),
                           cancel=cancel or CancelPlanForm(prefix="cancel"),
                           population_size=inspections_service.population_size(plan),
                           inspector_left=inspections_service.inspector_left, now=utcnow_naive(),
                           scope=inspections_service.scope_label(plan.scope)), status


@bp.get("/inspections/<int:plan_id>/manage")
@roles_required(*OFFICE)
def manage_inspection(plan_id: int):
    return _inspection_page(inspections_service.load_plan(current_user, plan_id))


@bp.post("/inspections/<int:plan_id>/freeze")
@roles_required(*OFFICE)
def freeze_inspection(plan_id: int):
    plan = inspections_service.load_plan(current_user, plan_id)
    return run_action(lambda: inspections_service.freeze_plan(current_user, plan),
                      _("已冻结：抽查对象名单、检查人员名录和种子的承诺值已公开。"),
                      url_for("programme.manage_inspection", plan_id=plan_id))


@bp.post("/inspections/<int:plan_id>/draw")
@roles_required(*OFFICE)
def draw_inspection(plan_id: int):
    plan = inspections_service.load_plan(current_user, plan_id)
    form = RevealForm(prefix="reveal")
    done = run_form(form, lambda: inspections_service.reveal_and_draw(current_user, plan, form.seed.data or None))
    if done:
        flash(_("种子已公开，抽取完成。"), "success")
        return redirect(url_for("programme.manage_inspection", plan_id=plan_id), 303)
    return _inspection_page(plan, form, done.status)


@bp.post("/inspections/<int:plan_id>/close")
@roles_required(*OFFICE)
def close_inspection(plan_id: int):
    plan = inspections_service.load_plan(current_user, plan_id)
    return run_action(lambda: inspections_service.close_plan(current_user, plan),
                      _("计划已结束，检查结果已公开。"), url_for("programme.manage_inspection", plan_id=plan_id))


@bp.post("/inspections/<int:plan_id>/cancel")
@roles_required(*OFFICE)
def cancel_inspection(plan_id: int):
    """The office cancels a plan that has not closed, with a reason (published once the plan was frozen)."""
    plan = inspections_service.load_plan(current_user, plan_id)
    form = CancelPlanForm(prefix="cancel")
    done = run_form(form, lambda: inspections_service.cancel_plan(current_user, plan, form.reason.data or ""))
    if done:
        flash(_("抽查计划已撤销。"), "success")
        return redirect(url_for("programme.manage_inspection", plan_id=plan_id), 303)
    return _inspection_page(plan, status=done.status, cancel=form)


@bp.post("/inspections/<int:plan_id>/assignments/<int:assignment_id>/not-inspected")
@roles_required(*OFFICE)
def inspection_not_inspected(plan_id: int, assignment_id: int):
    """The office closes the task of a drawn inspector who has left (F13), with a published reason."""
    plan = inspections_service.load_plan(current_user, plan_id)
    assignment = inspections_service.load_plan_assignment(current_user, plan, assignment_id)
    form = NotInspectedForm(prefix="left")
    done = run_form(form, lambda: inspections_service.mark_not_inspected(current_user, assignment,
                                                                         form.reason.data or ""))
    if done:
        flash(_("已记为“未检查：检查人员已离任”。"), "success")
        return redirect(url_for("programme.manage_inspection", plan_id=plan_id), 303)
    return _inspection_page(plan, status=done.status, not_inspected=form)


@bp.get("/inspections/tasks")
@roles_required(Role.INSPECTOR)
def inspection_tasks():
    return render_template("programme/inspection_tasks.html",
                           tasks=inspections_service.assignments_of(current_user))


def _finding_form(assignment) -> FindingForm:
    form = FindingForm(prefix="finding")
    form.result.choices = [(r.value, r.label) for r in FindingResult if r is not FindingResult.NOT_INSPECTED]
    if request.method == "GET" and assignment.result:
        form.result.data, form.notes.data = assignment.result, assignment.notes
    return form


def _task_page(assignment, form: FindingForm, status: int = 200):
    # Showing a credit record's evidence is audited: the event is committed with the page.
    shown = run_service(lambda: inspections_service.record_evidence(current_user, assignment))
    if not shown.done:
        raise shown.error
    return render_template("programme/inspection_task.html", a=assignment, form=form, evidence=shown.value), status


@bp.get("/inspections/tasks/<int:assignment_id>")
@roles_required(Role.INSPECTOR)
def inspection_task(assignment_id: int):
    assignment = inspections_service.load_assignment(current_user, assignment_id)
    return _task_page(assignment, _finding_form(assignment))


@bp.post("/inspections/tasks/<int:assignment_id>")
@roles_required(Role.INSPECTOR)
def record_finding(assignment_id: int):
    assignment = inspections_service.load_assignment(current_user, assignment_id)
    form = _finding_form(assignment)
    done = run_form(form, lambda: inspections_service.record_finding(current_user, assignment, form.result.data or "",
                                                                     form.notes.data or ""))
    if done:
        flash(_("检查结果已保存。"), "success")
        return redirect(url_for("programme.inspection_tasks"), 303)
    return _task_page(assignment, form, done.status)
