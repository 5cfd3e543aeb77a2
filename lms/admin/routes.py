"""管理后台 (/admin): people, their roles and accounts, exam attempts, the audit log. Admins only."""

import secrets

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.models import Role
from ..accounts.services import region_names
from ..core.errors import InvalidInput
from ..core.forms import run_form, run_service
from ..core.storage import media_root
from ..core.web import commit, roles_required
from ..exports.services import EXPORT_FOLDER, content_disposition
from . import services
from .forms import GrantForm, ReasonForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/people")
@roles_required(Role.ADMIN)
def people():
    args = request.args
    filters = services.PeopleFilter(q=args.get("q", ""), role=args.get("role", ""), state=args.get("state", ""))
    return render_template("admin/people.html", p=services.find_people(current_user, filters, page=args.get("page")),
                           f=filters, roles=list(Role))


def _grant_form() -> GrantForm:
    form = GrantForm(prefix="grant")
    form.role.choices = [("", _("请选择"))] + [(r.value, r.label) for r in Role]
    form.region_code.choices = [("", _("不适用"))] + region_names()
    return form


def _person_page(user, *, forms: dict | None = None, status: int = 200):
    forms = forms or {}
    return render_template("admin/person.html", v=services.person_view(current_user, user),
                           grant=forms.get("grant") or _grant_form(), reason_form=forms.get("reason") or ReasonForm(),
                           failed=forms.get("failed"), gone=forms.get("gone")), status


@bp.get("/people/<int:user_id>")
@roles_required(Role.ADMIN)
def person(user_id: int):
    return _person_page(services.get_person(current_user, user_id))


def _act(user, action, success: str, *, form=None, failed: str = "reason", gone=None):
    """Run one console action on ``user`` from a reason form; on success go back to the person
    page, else show it again with the message on the form that was sent. ``gone()`` tells, after a
    failure, whether what the form acted on has left the page (someone else took it away meanwhile):
    its message is then shown where the form was."""
    form = form or ReasonForm()
    done = run_form(form, action, field="reason")
    if done:
        flash(success if not callable(success) else success(done.value), "success")
        return redirect(url_for("admin.person", user_id=user.id), 303)
    key = "grant" if isinstance(form, GrantForm) else "reason"
    return _person_page(user, forms={key: form, "failed": failed, "gone": failed if gone and gone() else None},
                        status=done.status)


@bp.post("/people/<int:user_id>/roles")
@roles_required(Role.ADMIN)
def grant_role(user_id: int):
    user = services.get_person(current_user, user_id)
    form = _grant_form()
    return _act(user, lambda: services.grant_role(current_user, user, form.role.data or "",
                                                  organization=form.organization.data or "",
                                                  region_code=form.region_code.data or "", reason=form.reason.data),
                _("已授予角色。"), form=form, failed="grant")


@bp.post("/people/<int:user_id>/roles/<int:grant_id>/revoke")
@roles_required(Role.ADMIN)
def revoke_role(user_id: int, grant_id: int):
    user = services.get_person(current_user, user_id)
    form = ReasonForm()
    return _act(user, lambda: services.revoke_role(current_user, user, grant_id, reason=form.reason.data),
                _("已撤销该角色。"), form=form, failed=f"revoke-{grant_id}",
                gone=lambda: all(g.id != grant_id for g in user.role_grants))


@bp.post("/people/<int:user_id>/disable")
@roles_required(Role.ADMIN)
def disable(user_id: int):
    user = services.get_person(current_user, user_id)
    form = ReasonForm()
    return _act(user, lambda: services.disable_account(current_user, user, reason=form.reason.data),
                lambda ended: _("账号已停用，%(n)s 处登录已结束；此人登录时会看到账号已停用的提示。", n=ended),
                form=form, failed="disable")


@bp.post("/people/<int:user_id>/enable")
@roles_required(Role.ADMIN)
def enable(user_id: int):
    user = services.get_person(current_user, user_id)
    form = ReasonForm()
    return _act(user, lambda: services.enable_account(current_user, user, reason=form.reason.data),
                _("账号已重新启用，此人可以用原密码登录。"), form=form, failed="enable")


@bp.post("/people/<int:user_id>/exams/<int:enrollment_id>/reset")
@roles_required(Role.ADMIN)
def reset_exam(user_id: int, enrollment_id: int):
    user = services.get_person(current_user, user_id)
    form = ReasonForm()
    return _act(user, lambda: services.reset_exam_attempts(current_user, user, enrollment_id, reason=form.reason.data),
                lambda n: _("已重置 %(n)s 次测验，学员可以重新参加结业测验。", n=n), form=form,
                failed=f"exam-{enrollment_id}")


def _audit_filter():
    try:
        return services.parse_audit_filter(request.args), None
    except InvalidInput as exc:
        return services.AuditFilter(), exc


@bp.get("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    filters, error = _audit_filter()
    page = services.audit_page(current_user, filters, page=request.args.get("page"))
    return render_template("admin/audit.html", p=page, f=filters, error=error,
                           choices=services.audit_choices(current_user)), 400 if error else 200


@bp.get("/audit/export")
@roles_required(Role.ADMIN)
def export_audit():
    filters, error = _audit_filter()
    fmt = request.args.get("format", "csv")
    if error is None and fmt not in services.EXPORT_FORMATS:
        error = InvalidInput(_("导出格式应为 CSV 或 XLSX。"))
    if error is not None:
        flash(error.message, "danger")
        return redirect(url_for("admin.audit_log", **filters.args()), 303)
    run_service(lambda: services.audit_export(current_user, filters, fmt, ip=request.remote_addr))
    name = services.export_file_name(fmt)
    if fmt == "csv":
        response = Response(stream_with_context(services.iter_audit_csv(filters)), mimetype=services.MEDIA_TYPES["csv"])
    else:
        folder = media_root() / EXPORT_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"audit-{secrets.token_hex(8)}.xlsx"
        try:
            services.write_audit_xlsx(filters, str(path))
            commit()
            fh = open(path, "rb")  # noqa: SIM115 (closed by the response)
        finally:
            path.unlink(missing_ok=True)  # the open handle keeps the data until the response is sent
        response = send_file(fh, mimetype=services.MEDIA_TYPES["xlsx"], as_attachment=True, download_name=name)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    return response
