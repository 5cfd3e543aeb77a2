"""The learner's year (我的学时) and the admin's rule sets."""

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from ..accounts.models import Role
from ..accounts.services import region_names
from ..core.forms import run_form
from ..core.web import roles_required
from ..extensions import db
from . import services
from .forms import RuleSetForm
from .models import RuleSet

bp = Blueprint("credits", __name__)


@bp.get("/me/hours")
@bp.get("/me/hours/<int:year>")
@login_required
def my_hours(year: int | None = None):
    if year is not None and not 2000 <= year <= 2100:
        abort(404)
    summary = services.year_summary(current_user, year)
    years = sorted(set(services.years_with_records(current_user.id)) | {services.current_credit_year(summary.rule)},
                   reverse=True)
    history = [r for r in services.history(current_user.id) if r.credit_year == summary.year]
    chart = {"labels": [line.label for line in summary.lines],
             "earned": [float(line.hours) for line in summary.lines],
             "required": [float(line.required) if line.required is not None else None for line in summary.lines],
             "total": float(summary.total), "annual": float(summary.required)}
    return render_template("credits/my_hours.html", s=summary, years=years, history=history, chart=chart)


# ---------------------------------------------------------------- admin: rule sets

def _form_values(form: RuleSetForm) -> dict:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}


def _region_choices(current: str | None):
    taken = {r.region_code for r in services.all_rule_sets() if r.region_code and r.region_code != current}
    return [SelectChoice("", _("（请选择地区）"))] + [SelectChoice(code, _("%(name)s（%(code)s）", name=name, code=code))
                                              for code, name in region_names() if code not in taken]


@bp.get("/admin/rules")
@roles_required(Role.ADMIN)
def rule_sets():
    return render_template("credits/admin_rules.html", rules=services.all_rule_sets())


@bp.route("/admin/rules/new", methods=["GET", "POST"])
@bp.route("/admin/rules/<int:rule_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_rule_set(rule_id: int | None = None):
    rule = db.get_or_404(RuleSet, rule_id) if rule_id else None
    form = RuleSetForm()
    form.region_code.choices = _region_choices(rule.region_code if rule else None)
    if rule is not None and not form.is_bound:
        for name in services.RULE_FIELDS:
            value = getattr(rule, name)
            if isinstance(value, bool):
                value = "1" if value else "0"
            elif isinstance(value, Decimal):
                value = format(value.normalize(), "f")
            getattr(form, name).data = "" if value is None else str(value)
        form.coverage_threshold.data = format((rule.coverage_threshold * 100).normalize(), "f")
    elif rule is None and not form.is_bound:
        defaults = RuleSet(annual_hours=Decimal(90), public_min_hours=Decimal(30), minutes_per_hour=45,
                           rounding_step=Decimal("0.5"), allowed_rates="1,1.25,1.5", quiz_pass_score=60, quiz_attempts=3)
        for name in ("annual_hours", "public_min_hours", "minutes_per_hour", "allowed_rates", "quiz_pass_score",
                     "quiz_attempts"):
            getattr(form, name).data = str(getattr(defaults, name))
        form.rounding_step.data, form.coverage_threshold.data = "0.5", "95"
        form.cycle_end_month.data, form.cycle_end_day.data = "12", "31"
    saved = run_form(form, lambda: services.save_rule_set(current_user, rule_id, _form_values(form)))
    if saved:
        flash(_("学时规则“%(name)s”已保存。已记入的学时不受影响，之后完成的课程按新规则计算。", name=saved.value.name), "success")
        return redirect(url_for("credits.rule_sets"))
    status = 400 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("credits/admin_rule_edit.html", form=form, rule=rule), status
