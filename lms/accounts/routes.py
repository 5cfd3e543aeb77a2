from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from wtforms import SelectChoice

from ..core.errors import DomainError
from ..core.web import commit, form_error, safe_next_url
from ..extensions import csrf, db, limiter
from . import services
from .forms import ChangePasswordForm, LoginForm, RegistrationForm
from .models import Region

bp = Blueprint("accounts", __name__)


def _region_choices():
    regions = db.session.execute(select(Region.code, Region.name).order_by(Region.code)).all()
    return [SelectChoice("", _("请选择"))] + [SelectChoice(code, name) for code, name in regions]


def _login_limit():
    return current_app.config["LMS_LOGIN_RATE_LIMIT"]


def _register_limit():
    return current_app.config["LMS_REGISTER_RATE_LIMIT"]


def _login_name():
    """Failed logins are also counted per account, so many addresses cannot share one guess budget."""
    return "login:" + (request.form.get("login") or "").strip().lower()


@bp.route("/register", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token and keeps what was typed when it fails
@limiter.limit(_register_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("catalog.home"))
    form = RegistrationForm()
    form.region_code.choices = _region_choices()
    if form.validate_on_submit():
        data = services.PersonData(
            real_name=form.real_name.data, id_number=form.id_number.data, password=form.password.data,
            mobile=form.mobile.data, email=form.email.data, region_code=form.region_code.data,
            employer_name=form.employer_name.data, employer_credit_code=form.employer_credit_code.data,
            title_series=form.title_series.data,
        )
        try:
            user = services.register_learner(data)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            commit()
            login_user(user)
            flash(_("注册成功，欢迎使用。您的工作单位信息将由单位管理员确认。"), "success")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_name)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next_url(url_for("catalog.home")))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.login.data, form.password.data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            if user is None:
                form.form_errors.append(_("账号或密码不正确。请检查后重试；连续多次失败将被暂时限制登录。"))
            else:
                commit()
                login_user(user, remember=form.remember.data)
                return redirect(safe_next_url(url_for("catalog.home")))
    return render_template("accounts/login.html", form=form, next=request.args.get("next", ""))


@bp.post("/logout")
def logout():
    logout_user()
    flash(_("您已安全退出。"), "info")
    return redirect(url_for("catalog.home"))


@bp.route("/profile", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token
@login_required
def profile():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.password.data)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            commit()
            login_user(current_user._get_current_object(), fresh=True)  # this session carries the new epoch
            flash(_("密码已修改，其他设备上的登录已退出。"), "success")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", form=form)
