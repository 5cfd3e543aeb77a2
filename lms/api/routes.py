"""Pages where an admin or HR auditor issues and revokes HR API clients (``/api-clients``)."""

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from ..accounts.models import Role
from ..core.forms import run_form
from ..core.web import commit, roles_required, writes_on_read
from . import services
from .forms import IssueClientForm, RevokeForm, RotateForm

bp = Blueprint("api", __name__)
# The session cookie names the held token to show next (lms.api.services.hold_token), never the token.
REVEAL = "api_token_reveal"


def _issue_form() -> IssueClientForm:
    form = IssueClientForm()
    form.region.choices = [SelectChoice("", _("（请选择地区）"))] + [
        SelectChoice(r.code, _("%(name)s（%(code)s）", name=r.name, code=r.code)) for r in services.issuable_regions(current_user)]
    return form


def _page(form, issued=None, token=None, status=200, rotated=False, rotate_form=None, rotate_errors_for=None):
    response = render_template("api/clients.html", form=form, revoke_form=RevokeForm(),
                               rotate_form=rotate_form or RotateForm(formdata=None), rotate_errors_for=rotate_errors_for,
                               clients=services.clients_visible_to(current_user), issued=issued, token=token,
                               rotated=rotated, last_valid_day=services.last_valid_day)
    return response, status, {"Cache-Control": "no-store"}


@bp.get("/api-clients")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
@writes_on_read
def clients():
    shown = services.take_token(current_user, session.pop(REVEAL, None))
    commit()
    if shown is None:
        return _page(_issue_form())
    client, token, rotated = shown
    # The token is shown on this response only; it cannot be displayed again.
    return _page(_issue_form(), issued=client, token=token, rotated=rotated)


def _show_once(held):
    """After a POST that made a token: to the listing (an empty form), which shows the token once."""
    session[REVEAL] = held
    return redirect(url_for("api.clients"), 303)


@bp.post("/api-clients")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def issue():
    form = _issue_form()
    by_region = form.scope_kind.data != "unit"
    issued = run_form(form, lambda: services.hold_token(current_user, *services.issue_client(
        current_user, services.ClientRequest(
            name=form.name.data, region=form.region.data if by_region else None,
            unit=None if by_region else form.unit.data, full_id_numbers=form.full_id_numbers.data,
            expires_on=form.expires_on.data))))
    if not issued:
        return _page(form, status=issued.status)
    return _show_once(issued.value)


@bp.post("/api-clients/<int:client_id>/rotate")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def rotate(client_id: int):
    client = services.visible_client(current_user, client_id)
    form = RotateForm()
    rotated = run_form(form, lambda: services.hold_token(current_user, client, services.rotate_client(
        current_user, client, grace=timedelta(hours=int(form.grace_hours.data)), expires_on=form.expires_on.data),
        rotated=True))
    if not rotated:
        return _page(_issue_form(), rotate_form=form, rotate_errors_for=client.id, status=rotated.status)
    return _show_once(rotated.value)


@bp.post("/api-clients/<int:client_id>/revoke")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def revoke(client_id: int):
    client = services.visible_client(current_user, client_id)  # CSRF is checked before the view runs
    services.revoke_client(current_user, client)
    commit()
    flash(_("接口凭证“%(name)s”已吊销，使用它的请求将被拒绝。", name=client.name), "success")
    return redirect(url_for("api.clients"))
