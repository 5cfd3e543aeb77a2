"""A form POST that CSRF protection refused, shown again instead of lost.

Every POST, PUT, PATCH and DELETE carries the session's CSRF token (``CSRFProtect`` checks it
before any view runs). When it does not (the page was open past the session, the user signed out
in another tab, the form was sent from another site), :func:`show_form_again` answers a form POST
with its page as for a GET, status 400 (nothing was done): the same URL when it shows the form,
else the page the form was sent from (the same-site ``Referer``). The view runs as a GET, so it
cannot act (a GET does nothing a link could not do), with the forms of
:class:`lms.core.forms.Form` filled from what was sent and a fresh token; the form that was sent
says why, or the page does (``refused_notice`` in ``base.html``). Nothing is shown again for a POST
known to come from another site (its ``Origin`` or ``Referer``): another site must not be able to
fill in a form for the user to send.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_qualified_name
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from ..extensions import limiter

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def form_message() -> str:
    """Said on the form that was sent, shown again with what was typed."""
    return _("页面已过期或来源无法确认，您填写的内容已保留，请检查后重新提交。")


def page_message(kept: bool) -> str:
    """Said above the page when no form on it says it."""
    if kept:
        return form_message()
    return _("页面已过期或来源无法确认，操作未完成。请检查后重新提交。")


@dataclass
class RefusedSubmission:
    """A refused form POST while its page is shown again (kept on ``g``)."""

    data: ImmutableMultiDict
    own_page: bool  # the form's own URL (else the page it was sent from, where forms post elsewhere)
    taken: bool = False  # a form on the page shows what was sent
    told: bool = False  # that form says why


def refused_submission() -> RefusedSubmission | None:
    return g.get("_lms_refused_submission")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _from_another_site() -> bool:
    ours = _origin(request.host_url)
    origin = request.headers.get("Origin")
    if origin:
        return _origin(origin) != ours
    return bool(request.referrer) and _origin(request.referrer) != ours


def _page_to_show():
    """(rule, view args, path, query string) of the page to show again, or None."""
    adapter = current_app.create_url_adapter(request)
    candidates = [(request.path, None)]
    if request.referrer:
        referrer = urlsplit(request.referrer)
        candidates.append((referrer.path, referrer.query))
    for path, query in candidates:
        try:
            rule, args = adapter.match(path, method="GET", return_rule=True)
        except HTTPException:  # no page there, or only another method
            continue
        return rule, args, path, query
    return None


def _count_against_rate_limits() -> None:
    """A refused POST counts against the limits of the view it was sent to (a flood of them is
    answered 429), as if that view had run: the page is shown again as a GET, which they skip.
    Flask-Limiter checks a view's own limits when the view is called and offers no public call
    for it, hence its internal one."""
    view = current_app.view_functions.get(request.endpoint)
    if view is not None:
        limiter._check_request_limit(in_middleware=False, callable_name=get_qualified_name(view))


def show_form_again():
    """The page of a refused form POST, shown again with what was typed; None when there is none
    (not a form POST, sent from another site, no page to show): the caller answers with an error."""
    if request.method != "POST" or request.mimetype not in FORM_MIMETYPES or _from_another_site():
        return None
    page = _page_to_show()
    if page is None:
        return None
    try:
        _count_against_rate_limits()
    except RateLimitExceeded as exc:  # 429, as for any POST over the limit
        return current_app.make_response(current_app.handle_user_exception(exc))
    rule, args, path, query = page
    own_page = query is None
    # The request, seen as the GET of that page; restored afterwards for the after-request hooks
    # (a response to a POST is not cached, for one).
    saved = dict(request.__dict__)
    g._lms_refused_submission = RefusedSubmission(request.form, own_page=own_page)
    request.method, request.url_rule, request.view_args = "GET", rule, args
    if not own_page:
        request.path, request.query_string = path, query.encode()
        for derived in ("args", "url", "full_path", "base_url"):
            request.__dict__.pop(derived, None)
    try:
        try:
            response = current_app.make_response(current_app.view_functions[rule.endpoint](**args))
        except Exception as exc:  # the page's own refusal (403, 404, a DomainError), as for a GET
            response = current_app.make_response(current_app.handle_user_exception(exc))
        if 200 <= response.status_code < 300:
            response.status_code = 400  # shown again, but what was sent was not acted on
    finally:
        request.__dict__.clear()
        request.__dict__.update(saved)
        g.pop("_lms_refused_submission", None)
    return response


def refused_notice_context() -> dict:
    """``refused_notice`` for ``base.html``: why the page is shown again, unless a form says it."""
    refused = refused_submission()
    if refused is None or refused.told:
        return {}
    return {"refused_notice": page_message(refused.taken)}
