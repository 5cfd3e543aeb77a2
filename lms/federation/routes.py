"""The federation's pages and its feed.

Public: ``GET /federation/courses`` (the signed feed, JSON) and, for subscribers with a token,
``GET /federation/courses/<code>/<version>/package.zip``; both rate-limited per client address.
Admins: ``/admin/federation`` (what this instance shares, subscriber tokens, subscriptions) and a
progress page per subscription."""

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from ..accounts.models import Role
from ..api.services import ApiError
from ..core.clock import utcnow_naive
from ..core.database import writing
from ..core.errors import DomainError, InvalidInput
from ..core.formatting import format_hours
from ..core.forms import form_error, run_action, run_form, run_service
from ..core.jobs import enqueue
from ..core.storage import media_storage
from ..core.web import commit, public_url, roles_required, writes_on_read
from ..extensions import limiter
from . import services, subscriptions, tasks, transfers
from .forms import IssuerForm, PresentForm, ReplaceTokenForm, ShareForm, SubscribeForm, TokenForm

bp = Blueprint("federation", __name__)

FEED_PARAMETERS = ("updated_since", "cursor", "limit")


def _rate_limit() -> str:
    return current_app.config["LMS_FEDERATION_RATE_LIMIT"]


def _json_error(exc: DomainError, status: int | None = None):
    error = {"code": exc.code, "message": exc.message}
    if exc.field:
        error["parameter"] = exc.field
    return jsonify(error=error), status or exc.status


@bp.errorhandler(429)
def too_many(exc):
    """The feed and archives answer a script: the limit as JSON (with the limiter's Retry-After)."""
    return jsonify(error={"code": "rate_limited", "message": _("请求过于频繁（上限 %(limit)s），请稍后再试。",
                                                              limit=getattr(exc, "description", ""))}), 429


@bp.get("/federation/courses")
@limiter.limit(_rate_limit)
def feed():
    try:
        unknown = [name for name in request.args if name not in FEED_PARAMETERS]
        if unknown:
            raise InvalidInput(_("不支持参数 %(names)s。此接口可用的参数：%(accepted)s。", names=_("、").join(unknown[:5])[:200],
                                 accepted=_("、").join(FEED_PARAMETERS)), field=unknown[0][:60])
        raw_limit = request.args.get("limit", "").strip()
        if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit()):
            raise InvalidInput(_("参数 limit 应为 1–%(max)s 的整数。", max=services.MAX_PAGE_SIZE), field="limit")
        query = services.FeedQuery(updated_since=services.parse_updated_since(request.args.get("updated_since")),
                                   cursor=request.args.get("cursor") or None,
                                   limit=int(raw_limit) if raw_limit else services.PAGE_SIZE)
        page = services.feed_page(query)
    except DomainError as exc:
        return _json_error(exc)
    commit()
    response = jsonify(page)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/federation/courses/<code>/<int:version>/package.zip")
@limiter.limit(_rate_limit)
def archive(code: str, version: int):
    token = services.token_for(request.headers.get("Authorization"))
    if token is None:
        response, status = _json_error(ApiError(401, "invalid_token", _(
            "下载课程包需要本平台管理员签发的有效订阅令牌：请求头 Authorization: Bearer <令牌>。")))
        response.headers["WWW-Authenticate"] = 'Bearer realm="federation"'
        return response, status
    outcome = run_service(lambda: services.archive_for(token, code, version, ip=request.remote_addr))
    if not outcome:
        return _json_error(outcome.error)
    # Streamed through the app whatever the storage: the subscriber is another server, which may
    # not reach (or be allowed to follow a redirect to) this platform's object store.
    response = send_file(media_storage().open(outcome.value), mimetype="application/zip", as_attachment=True,
                         download_name=f"{code}-v{version}.zip", conditional=False)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- admin pages

def _share_form() -> ShareForm:
    form = ShareForm(prefix="share")
    form.code.choices = [SelectChoice("", _("请选择已发布的课程"))] + [
        SelectChoice(course.code, _("%(code)s《%(title)s》第 %(version)s 版", code=course.code, title=course.title,
                                    version=course.version))
        for course in services.shareable_courses()]
    return form


def _overview(*, share_form=None, token_form=None, new_secret=None, status=200):
    return render_template("federation/overview.html", shares=services.shared_courses(), tokens=services.tokens(),
                           subs=subscriptions.subscriptions(), share_form=share_form or _share_form(),
                           token_form=token_form or TokenForm(prefix="token"), new_secret=new_secret,
                           feed_url=public_url("federation.feed")), status


@bp.get("/admin/federation")
@roles_required(Role.ADMIN)
def overview():
    return _overview()


@bp.post("/admin/federation/shares")
@roles_required(Role.ADMIN)
def share():
    form = _share_form()
    done = run_form(form, lambda: services.share_course(current_user, form.code.data or ""), field="code")
    if done:
        flash(_("已共享课程 %(code)s：其已发布版本进入本平台的课程共享订阅源。", code=done.value.code), "success")
        return redirect(url_for("federation.overview"), 303)
    return _overview(share_form=form, status=done.status)


@bp.post("/admin/federation/shares/<int:share_id>/delete")
@roles_required(Role.ADMIN)
def unshare(share_id: int):
    return run_action(lambda: services.unshare_course(current_user, share_id),
                      _("已停止共享；订阅方已导入的课程不受影响。"), url_for("federation.overview"))


@bp.post("/admin/federation/tokens")
@roles_required(Role.ADMIN)
def issue_token():
    form = TokenForm(prefix="token")
    done = run_form(form, lambda: services.issue_token(current_user, form.name.data or ""), field="name")
    if done:
        _token, secret = done.value
        return _overview(new_secret=secret)
    return _overview(token_form=form, status=done.status)


@bp.post("/admin/federation/tokens/<int:token_id>/revoke")
@roles_required(Role.ADMIN)
def revoke_token(token_id: int):
    return run_action(lambda: services.revoke_token(current_user, token_id),
                      _("订阅令牌已吊销，持有它的平台不能再下载课程包。"), url_for("federation.overview"))


@bp.route("/admin/federation/subscribe", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def subscribe():
    form = SubscribeForm()
    preview = None
    if form.validate_on_submit():
        if not form.fingerprint.data:
            # Step one: read the feed and show the publisher's key fingerprint to confirm.
            outcome = run_service(lambda: subscriptions.inspect_feed(form.url.data or ""))
            if outcome:
                preview = outcome.value
                form.fingerprint.data = preview.fingerprint
            else:
                form.url.errors = [*form.url.errors, outcome.error.message]
        else:
            done = run_service(lambda: subscriptions.subscribe(
                current_user, form.url.data or "", token=form.token.data or "",
                publish_at_once=form.mode.data == "publish", fingerprint=form.fingerprint.data))
            if done:
                if enqueue(tasks.pull_subscription_job, done.value.id):
                    flash(_("已订阅 %(name)s 的课程共享，正在进行第一次拉取。", name=done.value.instance_name), "success")
                else:  # pull_due_subscriptions pulls it within minutes of the queue's return
                    flash(_("已订阅 %(name)s 的课程共享。后台队列暂时不可用，第一次拉取会在队列恢复后自动进行。",
                            name=done.value.instance_name), "warning")
                return redirect(url_for("federation.subscription", subscription_id=done.value.id), 303)
            form.fingerprint.data = ""
            target = getattr(form, done.error.field or "", None)
            if target is not None and done.error.field != "fingerprint":
                target.errors = [*target.errors, done.error.message]
            else:
                form.form_errors.append(done.error.message)
    status = 400 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("federation/subscribe.html", form=form, preview=preview,
                           groups=subscriptions.fingerprint_groups), status


def _subscription_page(sub, *, token_form=None, status=200):
    return render_template("federation/subscription.html", sub=sub, progress=subscriptions.progress(sub),
                           groups=subscriptions.fingerprint_groups,
                           token_form=token_form or ReplaceTokenForm(prefix="replace")), status


@bp.get("/admin/federation/subscriptions/<int:subscription_id>")
@roles_required(Role.ADMIN)
def subscription(subscription_id: int):
    return _subscription_page(subscriptions.get_subscription(current_user, subscription_id))


@bp.post("/admin/federation/subscriptions/<int:subscription_id>/token")
@roles_required(Role.ADMIN)
def replace_token(subscription_id: int):
    sub = subscriptions.get_subscription(current_user, subscription_id)
    form = ReplaceTokenForm(prefix="replace")
    done = run_form(form, lambda: subscriptions.replace_token(current_user, sub.id, form.token.data or ""),
                    field="token")
    if done:
        flash(_("订阅令牌已更换，下次拉取时使用。"), "success")
        return redirect(url_for("federation.subscription", subscription_id=sub.id), 303)
    return _subscription_page(sub, token_form=form, status=done.status)


@bp.post("/admin/federation/subscriptions/<int:subscription_id>/pull")
@roles_required(Role.ADMIN)
def pull(subscription_id: int):
    sub = subscriptions.get_subscription(current_user, subscription_id)
    target = url_for("federation.subscription", subscription_id=sub.id)
    if not sub.active:
        flash(_("该订阅已取消，不再拉取。"), "danger")
        return redirect(target)
    if enqueue(tasks.pull_subscription_job, sub.id):
        flash(_("已开始拉取，结果显示在下方的记录中（可稍后刷新本页）。"), "success")
    else:
        flash(_("后台队列暂时不可用，未能开始拉取；队列恢复后会按计划自动拉取，也可稍后再点“立即拉取”。"), "warning")
    return redirect(target)


@bp.post("/admin/federation/subscriptions/<int:subscription_id>/unsubscribe")
@roles_required(Role.ADMIN)
def unsubscribe(subscription_id: int):
    return run_action(lambda: subscriptions.unsubscribe(current_user, subscription_id),
                      _("已取消订阅：不再拉取更新，已导入的课程保留。"),
                      url_for("federation.subscription", subscription_id=subscription_id))


# ---------------------------------------------------------------- credit portability

def _transfer_rate_limit() -> str:
    return current_app.config["LMS_TRANSFER_RATE_LIMIT"]


def _issuers_page(*, form=None, status=200):
    return render_template("federation/issuers.html", issuers=transfers.issuers(include_removed=True),
                           form=form or IssuerForm(), fingerprints=transfers.key_fingerprints,
                           recent=transfers.recent_transfers()), status


@bp.get("/admin/federation/issuers")
@roles_required(Role.ADMIN)
def issuers():
    return _issuers_page()


@bp.post("/admin/federation/issuers")
@roles_required(Role.ADMIN)
def add_issuer():
    form = IssuerForm()
    read = None
    if form.validate_on_submit() and not (form.keys.data or "").strip():
        # The issuer's key set is read holding no lock (what was read so far is committed); the issuer
        # is then added in a transaction that takes SQLite's write lock at BEGIN.
        commit()
        fetched = run_service(lambda: transfers.read_issuer_keys(current_user, form.issuer_id.data or "",
                                                                 form.jwks_url.data))
        if not fetched:
            form_error(form, fetched.error, field="issuer_id")
            return _issuers_page(form=form, status=fetched.status)
        read = fetched.value
    with writing():
        done = run_form(form, lambda: transfers.add_issuer(
            current_user, form.issuer_id.data or "", form.name.data or "", jwks_url=form.jwks_url.data,
            keys_json=form.keys.data, read=read), field="issuer_id")
    if done:
        flash(_("已将 %(name)s 加入信任的发证平台，此后接受其签发的学时凭证。", name=done.value.name), "success")
        return redirect(url_for("federation.issuers"), 303)
    return _issuers_page(form=form, status=done.status)


@bp.post("/admin/federation/issuers/<int:issuer_id>/remove")
@roles_required(Role.ADMIN)
def remove_issuer(issuer_id: int):
    return run_action(lambda: transfers.remove_issuer(current_user, issuer_id),
                      _("已移出信任列表：不再接受其凭证，已转入的学时保留。"), url_for("federation.issuers"))


@bp.post("/admin/federation/issuers/<int:issuer_id>/refresh")
@roles_required(Role.ADMIN)
def refresh_issuer(issuer_id: int):
    commit()  # the key set is read holding no lock; the keys are pinned in a short writing transaction
    fetched = run_service(lambda: transfers.read_refreshed_keys(current_user, issuer_id))
    if not fetched:
        flash(fetched.error.message, "danger")
        return redirect(url_for("federation.issuers"))
    with writing():
        return run_action(lambda: transfers.refresh_issuer_keys(current_user, issuer_id, read=fetched.value),
                          _("已重新读取发证平台的公钥。"), url_for("federation.issuers"))


def _transfers_page(*, form=None, status=200, refused=None):
    return render_template("federation/my_transfers.html", form=form or PresentForm(),
                           transfers=transfers.my_transfers(current_user), refused=refused), status


@bp.get("/me/transfers")
@login_required
def my_transfers():
    return _transfers_page()


@bp.post("/me/transfers")
@login_required
@limiter.limit(_transfer_rate_limit)
def present():
    form = PresentForm()
    if not form.validate_on_submit():
        return _transfers_page(form=form, status=400)
    upload = form.credential.data
    link = (form.link.data or "").strip()
    if upload and getattr(upload, "filename", ""):
        data = upload.read(transfers.MAX_CREDENTIAL_BYTES + 1)
        via = "upload"
        verify = lambda: transfers.verify_presentation(current_user, data.decode("ascii", "replace"))  # noqa: E731
    else:
        via = "link"
        verify = lambda: transfers.verify_link(current_user, link)  # noqa: E731
    # The issuer is read (its keys, status lists, the link) holding no lock: what was read so far is
    # committed, and the check writes nothing. Recording then takes SQLite's write lock at BEGIN and,
    # under the ledger's lock, reads again what a request running at the same time may have recorded.
    commit()
    done = run_service(verify)
    if done:
        presentation = done.value
        with writing():
            done = run_service(lambda: transfers.accept_presentation(current_user, presentation))
    if done:
        for transfer in done.value:
            flash(_("已转入 %(title)s（%(hours)s 学时，来自 %(issuer)s，证书编号 %(number)s）。", title=transfer.course_title,
                    hours=format_hours(transfer.hours), issuer=transfer.issuer.name,
                    number=transfer.original_number), "success")
        return redirect(url_for("federation.my_transfers"), 303)
    with writing():  # the refusal is audited in a short transaction of its own
        transfers.record_refusal(current_user, done.error, via=via, ip=request.remote_addr)
        commit()
    return _transfers_page(form=form, status=done.status, refused=done.error.message)


@bp.post("/me/certificates/<number>/consent")
@login_required
@limiter.limit(_transfer_rate_limit)  # each link is a row kept for the learner's list and the audit
def create_consent(number: str):
    done = run_service(lambda: transfers.create_consent_link(current_user, number))
    if not done:
        flash(done.error.message, "danger")
        return redirect(url_for("certificates.my_certificates"), 303)
    _link, token = done.value
    return render_template("federation/consent_created.html", link=_link,
                           url=public_url("federation.consented_credential", token=token))


@bp.get("/me/consent-links")
@login_required
def consent_links():
    return render_template("federation/consent_links.html", consent_links=transfers.my_consent_links(current_user),
                           now=utcnow_naive())


@bp.post("/me/consent-links/<int:link_id>/revoke")
@login_required
def revoke_consent(link_id: int):
    return run_action(lambda: transfers.revoke_consent_link(current_user, link_id),
                      _("授权链接已撤回，其他平台不能再通过它读取您的凭证。"), url_for("federation.consent_links"))


@bp.get("/credentials/shared/<token>")
@limiter.limit(_transfer_rate_limit)
@writes_on_read
def consented_credential(token: str):
    """The one credential a learner's live consent link points to (``application/vc+jwt``)."""
    outcome = run_service(lambda: transfers.consented_credential(token, ip=request.remote_addr))
    if not outcome:
        # The refusal is audited even though the service's work was rolled back.
        transfers.record_refusal(None, outcome.error, via="consent_link", ip=request.remote_addr)
        commit()
        return _json_error(outcome.error)
    response = Response(outcome.value, mimetype="application/vc+jwt")
    response.headers["Cache-Control"] = "no-store"
    return response
