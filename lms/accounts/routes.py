import time
from datetime import UTC

from cryptography.fernet import InvalidToken
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import SelectChoice

from ..core.clock import local_zone, utcnow_naive
from ..core.forms import run_form, run_service
from ..core.i18n import LOCALE_COOKIE, LOCALE_COOKIE_DAYS, format_minute, offered
from ..core.messages import Channel
from ..core.web import checks_own_input, commit, roles_required, safe_next_url
from ..extensions import db, limiter
from . import crypto, recovery, services, sessions, throttle
from .forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    RegistrationForm,
    ResetWithCodeForm,
    ResetWithLinkForm,
    SendResetToAddressForm,
    SendVerificationForm,
    TitleLevelForm,
    UnlockForm,
    VerifyContactForm,
)
from .models import Role, User

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
@checks_own_input  # control characters are a message on the field (accounts.identifiers)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("catalog.home"))
    form = RegistrationForm()
    form.region_code.choices = _region_choices()
    registered = run_form(form, lambda: recovery.register_learner(services.PersonData(
        real_name=form.real_name.data, id_number=form.id_number.data, password=form.password.data,
        mobile=form.mobile.data, email=form.email.data, region_code=form.region_code.data,
        employer_name=form.employer_name.data, employer_credit_code=form.employer_credit_code.data,
        title_series=form.title_series.data,
    )))
    if registered:
        _sign_in(registered.value)
        flash(_("注册成功，欢迎使用。您的工作单位信息将由单位管理员确认。"), "success")
        if current_app.config["LMS_VERIFY_CONTACT"] and recovery.channels():
            return redirect(url_for("accounts.verify_contact"))
        return redirect(url_for("accounts.profile"))
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
# A flood guard per address (password hashing is costly): attempts that did not sign in count.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
@checks_own_input  # an odd login is the plain "wrong account or password"
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
    return _profile_page(form, TitleLevelForm(title_level=current_user.title_level or ""))


def _profile_page(form, level_form, status: int = 200):
    return render_template("accounts/profile.html", form=form, level_form=level_form,
                           login_sessions=sessions.live_sessions(current_user)), status


@bp.post("/profile/title-level")
@login_required
def title_level():
    level_form = TitleLevelForm()
    done = run_form(level_form, lambda: services.set_title_level(current_user, level_form.title_level.data))
    if done:
        flash(_("职称级别已保存。"), "success")
        return redirect(url_for("accounts.profile"), 303)
    return _profile_page(ChangePasswordForm(formdata=None), level_form, done.status)


# ----------------------------------------------------------------------------- 找回密码 (lms/accounts/recovery.py)

def _recovery_limit():
    return current_app.config["LMS_RECOVERY_RATE_LIMIT"]


def _channel_choices():
    labels = {Channel.MAIL: _("通过电子邮箱接收重设链接"), Channel.SMS: _("通过手机短信接收验证码")}
    return [SelectChoice(channel, labels[channel]) for channel in recovery.channels()]


def _no_referrer(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_recovery_limit, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    form.channel.choices = _channel_choices()
    if not form.is_bound and form.channel.choices:
        form.channel.data = form.channel.choices[0].value
    status = 200
    started = time.monotonic()
    requested = run_form(form, lambda: recovery.request_reset(form.login.data, form.channel.data,
                                                               source=request.remote_addr))
    if requested:
        # Whether a code was written and queued must not show in how long the answer takes either.
        time.sleep(max(0.0, current_app.config["LMS_RECOVERY_ANSWER_SECONDS"] - (time.monotonic() - started)))
    if requested and requested.value.wait_minutes:
        status = 429
        form.form_errors.append(_("您所在的网络近期申请找回密码的次数过多，请 %(minutes)d 分钟后再试，或联系平台管理员。",
                                  minutes=requested.value.wait_minutes))
    elif requested:
        # The same answer whatever the account: the next page says what happens *if* it exists.
        if form.channel.data == Channel.SMS:
            # Typed again on the next page for them; sealed, since it may be an ID number.
            session["recovery_login"] = crypto.encrypt(form.login.data.strip()[:254])
            flash(_("如果该账号存在并登记了手机号，验证码已发送到该手机，%(minutes)d 分钟内有效。",
                    minutes=current_app.config["LMS_RESET_CODE_MINUTES"]), "info")
            return redirect(url_for("accounts.reset_with_code"))
        return redirect(url_for("accounts.reset_sent"))
    elif requested.status != 200:
        status = requested.status
    return render_template("accounts/forgot_password.html", form=form), status


@bp.get("/password/sent")
def reset_sent():
    return render_template("accounts/reset_sent.html", minutes=current_app.config["LMS_RESET_LINK_MINUTES"])


def _after_reset():
    session.pop("recovery_login", None)
    if current_user.is_authenticated:
        logout_user()  # the reset ended this session too
    flash(_("密码已重设，所有设备上的登录都已退出。请用新密码登录。"), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/password/code", methods=["GET", "POST"])
@limiter.limit(_recovery_limit, methods=["POST"])
def reset_with_code():
    form = ResetWithCodeForm()
    if not form.is_bound and session.get("recovery_login"):
        try:
            form.login.data = crypto.decrypt(session["recovery_login"])
        except InvalidToken:  # sealed under another LMS_DATA_KEY: the person types it
            session.pop("recovery_login")
    reset = run_form(form, lambda: recovery.reset_with_code(form.login.data, form.code.data, form.password.data),
                     field="code")
    if reset and reset.value.user is not None:
        return _after_reset()
    if reset:  # a wrong code: counted (committed), the form says so
        form.code.errors = [*form.code.errors, reset.value.error]
    status = 400 if reset or reset.status != 200 else 200
    return _no_referrer(make_response(render_template("accounts/reset_with_code.html", form=form), status))


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(_recovery_limit, methods=["POST"])
def reset_with_link():
    form = ResetWithLinkForm()
    reset = run_form(form, lambda: recovery.reset_with_link(form.token.data, form.password.data))
    if reset:
        return _after_reset()
    return _no_referrer(make_response(render_template("accounts/reset_with_link.html", form=form,
                                                      minutes=current_app.config["LMS_RESET_LINK_MINUTES"]),
                                      reset.status))


# ----------------------------------------------------------------------------- verifying one's contacts

@bp.route("/profile/verify", methods=["GET", "POST"])
@login_required
@limiter.limit(_recovery_limit, methods=["POST"])
def verify_contact():
    form = VerifyContactForm()
    verified = run_form(form, lambda: recovery.verify_contact(current_user, form.channel.data, form.code.data))
    if verified and verified.value.user is not None:
        flash(_("验证成功。"), "success")
        return redirect(url_for("accounts.profile"))
    if verified:
        form.code.errors = [*form.code.errors, verified.value.error]
    status = 400 if verified or verified.status != 200 else 200
    return render_template("accounts/verify_contact.html", form=form, send_form=SendVerificationForm(formdata=None),
                           channels=recovery.channels()), status


@bp.post("/profile/verify/send")
@login_required
@limiter.limit(_recovery_limit)
def send_verification():
    form = SendVerificationForm()
    sent = run_form(form, lambda: recovery.send_verification(current_user, form.channel.data))
    if sent:
        flash(_("验证码已发送到 %(to)s，%(minutes)d 分钟内有效。", to=sent.value.destination_masked,
                minutes=current_app.config["LMS_RESET_CODE_MINUTES"]), "success")
    else:
        flash(sent.error.message if sent.error is not None else _("请选择要验证的联系方式。"), "danger")
    return redirect(url_for("accounts.verify_contact"))


# ----------------------------------------------------------------------------- operators

def _person(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/accounts/<int:user_id>/recovery", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def admin_recovery(user_id: int):
    """For someone without working mail or phone: send a reset to an address they give, or lift
    the login delay. The admin console links here."""
    person = _person(user_id)
    form = SendResetToAddressForm()
    sent = run_form(form, lambda: recovery.send_reset_to_address(current_user, person, form.address.data))
    if sent:
        flash(_("已向 %(to)s 发送重设密码的%(what)s。", to=sent.value.destination_masked,
                what=_("链接") if sent.value.channel == Channel.MAIL else _("验证码")), "success")
        return redirect(url_for("accounts.admin_recovery", user_id=person.id))
    return render_template("accounts/admin_recovery.html", person=person, form=form, unlock_form=UnlockForm(formdata=None),
                           codes=recovery.recovery_history(person), channels=recovery.channels(),
                           login_failures=recovery.login_failure_count(person), now=utcnow_naive(),
                           mask_address=recovery.mask_address), sent.status


@bp.post("/accounts/<int:user_id>/unlock")
@roles_required(Role.ADMIN)
def admin_unlock(user_id: int):
    person = _person(user_id)
    form = UnlockForm()
    unlocked = run_form(form, lambda: recovery.unlock_account(current_user, person))
    if unlocked:
        flash(_("已解除 %(name)s 的登录限制（清除了 %(count)d 次密码错误记录）。", name=person.real_name,
                count=unlocked.value), "success")
    elif unlocked.error is not None:
        flash(unlocked.error.message, "danger")
    return redirect(url_for("accounts.admin_recovery", user_id=person.id))
