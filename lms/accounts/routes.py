from datetime import UTC

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import SelectChoice

from ..core.clock import local_zone
from ..core.forms import run_form, run_service
from ..core.i18n import LOCALE_COOKIE, LOCALE_COOKIE_DAYS, format_minute, offered
from ..core.web import commit, safe_next_url
from ..extensions import limiter
from . import services, sessions, throttle
from .forms import ChangePasswordForm, LoginForm, RegistrationForm

bp = Blueprint("accounts", __name__)


def _region_choices():
    return [SelectChoice("", _("请选择"))] + [SelectChoice(code, name) for code, name in services.region_names()]


def _login_limit():
    return current_app.config["LMS_LOGIN_RATE_LIMIT"]


def _register_limit():
    return current_app.config["LMS_REGISTER_RATE_LIMIT"]


def _sign_in(user, *, remember: bool = False) -> None:
    """A new login session on this device (kept on the server, see sessions.py), then the cookies."""
    login_session = sessions.start_session(user, remember=remember, user_agent=request.user_agent.string)
    commit()
    login_user(user, remember=remember, duration=sessions.remaining(login_session) if remember else None)


# Marks a browser where an account signed in before (lms/accounts/throttle.py): guesses made
# elsewhere do not slow its owner down.
KNOWN_DEVICE_COOKIE = "lms_device"


def _remember_device(response, user) -> None:
    known = throttle.device_for(request.cookies.get(KNOWN_DEVICE_COOKIE))
    value, _device = throttle.known_device_token(user, known[1] if known and known[0] == user.id else None)
    response.set_cookie(KNOWN_DEVICE_COOKIE, value, max_age=current_app.config["LMS_KNOWN_DEVICE_DAYS"] * 86400,
                        httponly=True, samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])


def _local_minute(at) -> str:
    return format_minute(at.replace(tzinfo=UTC).astimezone(local_zone()))


def _failures_notice(outcome) -> str:
    times = _("、").join(_local_minute(at) for at in outcome.failure_times)
    if outcome.failures_since_last_login > len(outcome.failure_times):
        times += _("等")
    return _("您的账号自上次登录以来有 %(count)d 次密码错误的登录尝试（%(times)s）。如果不是您本人所为，"
             "请在“个人信息”页修改密码，并退出不认识的登录设备。",
             count=outcome.failures_since_last_login, times=times)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("catalog.home"))
    form = RegistrationForm()
    form.region_code.choices = _region_choices()
    registered = run_form(form, lambda: services.register_learner(services.PersonData(
        real_name=form.real_name.data, id_number=form.id_number.data, password=form.password.data,
        mobile=form.mobile.data, email=form.email.data, region_code=form.region_code.data,
        employer_name=form.employer_name.data, employer_credit_code=form.employer_credit_code.data,
        title_series=form.title_series.data,
    )))
    if registered:
        _sign_in(registered.value)
        flash(_("注册成功，欢迎使用。您的工作单位信息将由单位管理员确认。"), "success")
        return redirect(url_for("accounts.profile"))
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
# A flood guard per address (password hashing is costly): attempts that did not sign in count.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next_url(url_for("catalog.home")))
    form = LoginForm()
    wait = 0
    # Committed whatever happens next: failures are counted.
    attempted = run_form(form, lambda: throttle.attempt_login(
        form.login.data, form.password.data, source=request.remote_addr,
        device_cookie=request.cookies.get(KNOWN_DEVICE_COOKIE)))
    if attempted:
        outcome = attempted.value
        if outcome.wait_seconds:
            wait = outcome.wait_seconds
            form.form_errors.append(_(
                "该账号（或您所在的网络）近期有多次密码错误的登录尝试。为保护账号安全，请在 %(seconds)d 秒后再试；"
                "时间到后输入正确的密码即可登录。", seconds=wait))
        elif outcome.user is None:
            message = _("账号或密码不正确。请检查后重试。")
            if outcome.next_wait_seconds:
                message += _("由于多次密码错误，请在 %(seconds)d 秒后再试。", seconds=outcome.next_wait_seconds)
            form.form_errors.append(message)
        else:
            _sign_in(outcome.user, remember=form.remember.data)
            if outcome.failures_since_last_login:
                flash(_failures_notice(outcome), "warning")
            response = redirect(safe_next_url(url_for("catalog.home")))
            _remember_device(response, outcome.user)
            return response
    response = make_response(render_template("accounts/login.html", form=form, next=request.args.get("next", "")),
                             429 if wait else 200)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        sessions.end_session(current_user.login_session)  # copies of this device's cookies stop working
        commit()
    logout_user()
    flash(_("您已安全退出。"), "info")
    return redirect(url_for("catalog.home"))


@bp.route("/sessions/logout-all", methods=["GET", "POST"])
@login_required
def logout_everywhere():
    if request.method == "GET":  # what it does, and a button to confirm
        return render_template("accounts/logout_everywhere.html", count=len(sessions.live_sessions(current_user)))
    sessions.log_out_everywhere(current_user)
    commit()
    logout_user()
    flash(_("已退出所有设备（包括本设备）。请重新登录。"), "success")
    return redirect(url_for("accounts.login"))


@bp.post("/sessions/<int:session_id>/logout")
@login_required
def logout_device(session_id: int):
    ended = sessions.end_session_of(current_user, session_id)
    commit()
    if ended.id == current_user.login_session.id:
        logout_user()
        flash(_("您已安全退出。"), "info")
        return redirect(url_for("catalog.home"))
    flash(_("已退出该设备（%(device)s）的登录。", device=ended.device), "success")
    return redirect(url_for("accounts.profile"))


@bp.route("/language", methods=["GET", "POST"])
def choose_language():
    """The header's language switcher: back to the page it was used on, in the chosen language.

    GET (the links shown to visitors who are not signed in) only sets this browser's cookie and changes
    nothing on the server; POST (a form with its CSRF token, shown to the signed-in) also keeps the
    choice on the account, so that it follows the person to every device they sign in on."""
    back = safe_next_url(url_for("catalog.home"))
    locale = offered(request.values.get("locale"))
    if request.method == "POST" and current_user.is_authenticated:
        outcome = run_service(lambda: services.choose_locale(current_user, request.form.get("locale", "")))
        if not outcome.done:
            flash(outcome.error.message, "danger")
            return redirect(back)
    elif locale is None:
        flash(_("请选择界面语言：中文或 English。"), "danger")
        return redirect(back)
    response = redirect(back)
    response.set_cookie(LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ChangePasswordForm()
    if run_form(form, lambda: services.change_password(current_user, form.current_password.data,
                                                        form.password.data)):
        # This device's cookies carry the new epoch (a remember-me cookie keeps its end date).
        user = current_user._get_current_object()
        remember = user.login_session.remember
        login_user(user, fresh=True, remember=remember,
                   duration=sessions.remaining(user.login_session) if remember else None)
        flash(_("密码已修改，其他设备上的登录已退出。"), "success")
        return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", form=form, login_sessions=sessions.live_sessions(current_user))
