"""通知公告 (/notices): the public list and a notice, and the editor of admins and HR auditors."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..core.forms import run_action, run_form
from ..core.web import roles_required, writes_on_read
from . import services
from .forms import NoticeForm

bp = Blueprint("notices", __name__, url_prefix="/notices")


@bp.get("")
def notice_list():
    region = request.args.get("region") or None
    page = services.notices_for(current_user, region_code=region, page=request.args.get("page"))
    return render_template("notices/list.html", p=page, region=services.viewer_region(current_user, region),
                           regions=services.all_regions(), may_publish=services.may_publish(current_user))


@bp.get("/<int:notice_id>")
@writes_on_read
def notice(notice_id: int):
    notice = services.read_notice(current_user, notice_id)
    return render_template("notices/notice.html", notice=notice,
                           may_edit=services.may_manage(current_user, notice))


@bp.post("/read-all")
@login_required
def read_all():
    return run_action(lambda: services.mark_all_read(current_user), _("已将全部通知标为已读。"),
                      url_for("notices.notice_list"))


@bp.get("/manage")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def manage():
    return render_template("notices/manage.html", p=services.managed_notices(current_user, page=request.args.get("page")))


def _form(notice=None) -> NoticeForm:
    form = NoticeForm(obj=None if notice is None else notice)
    regions = services.publishing_regions(current_user)
    choices = [(r.code, r.name) for r in regions]
    if current_user.has_role(Role.ADMIN):
        choices.insert(0, ("", _("全国（所有地区）")))
    form.region_code.choices = choices
    if notice is not None and not form.is_bound:
        form.region_code.data = notice.region_code or ""
    return form


def _data(form: NoticeForm) -> services.NoticeData:
    return services.NoticeData(title=form.title.data or "", body=form.body.data or "",
                               region_code=form.region_code.data or None, pinned=form.pinned.data,
                               starts_on=form.starts_on.data, ends_on=form.ends_on.data)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def new_notice():
    form = _form()
    done = run_form(form, lambda: services.publish_notice(current_user, _data(form)), field="body")
    if done:
        flash(_("通知已发布，在显示日期内出现在首页和通知列表中。"), "success")
        return redirect(url_for("notices.notice", notice_id=done.value.id), 303)
    return render_template("notices/edit.html", form=form, notice=None), done.status


@bp.route("/<int:notice_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def edit_notice(notice_id: int):
    notice = services.notice_to_manage(current_user, notice_id)
    form = _form(notice)
    done = run_form(form, lambda: services.update_notice(current_user, notice, _data(form)), field="body")
    if done:
        flash(_("通知已保存。"), "success")
        return redirect(url_for("notices.notice", notice_id=notice.id), 303)
    return render_template("notices/edit.html", form=form, notice=notice), done.status


@bp.post("/<int:notice_id>/withdraw")
@roles_required(Role.ADMIN, Role.HR_AUDITOR)
def withdraw(notice_id: int):
    notice = services.notice_to_manage(current_user, notice_id)
    return run_action(lambda: services.withdraw_notice(current_user, notice),
                      _("通知已撤回，不再显示在首页和通知列表中。"), url_for("notices.manage"))
