"""A form POST that CSRF protection refused, shown again instead of lost.

Every POST, PUT, PATCH and DELETE carries the session's CSRF token (``CSRFProtect`` checks it
before any view runs). When it does not (the page was open past the session, the user signed out
in another tab, the form was sent from another site), :func:`show_form_again` answers a form POST
with its page as for a GET (status 400: nothing was done): the same URL when it shows the form, else the page the form was sent
from (the same-site ``Referer``). The view runs as a GET, so it cannot act, with the forms of
:class:`lms.core.forms.Form` filled from what was sent and a fresh token; the form that was sent
says why, or the page does (``refused_notice`` in ``base.html``). Nothing is shown again for a POST
known to come from another site (its ``Origin`` or ``Referer``): another site must not be able to
fill in a form for the user to send.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, g, request
from flask_babel import gettext as _
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
    """(rule, view args, own page, query string) of the page to show again, or None."""
    adapter = current_app.create_url_adapter(request)
    candidates = [(request.path, True, None)]
    if request.referrer:
        referrer = urlsplit(request.referrer)
        candidates.append((referrer.path, False, referrer.query))
    for path, own_page, query in candidates:
        try:
            rule, args = adapter.match(path, method="GET", return_rule=True)
        except HTTPException:  # no page there, or only another method
            continue
        return rule, args, own_page, query
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
    rule, args, own_page, query = page
    try:
        _count_against_rate_limits()
    except Exception as exc:  # over the view's limit: 429, as for any POST
        return current_app.make_response(current_app.handle_user_exception(exc))
    saved = request.method, request.url_rule, request.view_args, request.__dict__.get("args")
    g._lms_refused_submission = RefusedSubmission(request.form, own_page=own_page)
    request.method, request.url_rule, request.view_args = "GET", rule, args
    if query is not None:
        request.args = ImmutableMultiDict(parse_qsl(query, keep_blank_values=True))
    try:
        try:
            response = current_app.make_response(current_app.view_functions[rule.endpoint](**args))
        except Exception as exc:  # the page's own refusal (403, 404, a DomainError), as for a GET
            response = current_app.make_response(current_app.handle_user_exception(exc))
        if 200 <= response.status_code < 300:
            response.status_code = 400  # shown again, but what was sent was not acted on
    finally:
        request.method, request.url_rule, request.view_args = saved[:3]
        if saved[3] is None:
            request.__dict__.pop("args", None)
        else:
            request.args = saved[3]
        g.pop("_lms_refused_submission", None)
    return response


def refused_notice_context() -> dict:
    """``refused_notice`` for ``base.html``: why the page is shown again, unless a form says it."""
    refused = refused_submission()
    if refused is None or refused.told:
        return {}
    return {"refused_notice": page_message(refused.taken)}
