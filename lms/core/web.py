"""Small helpers shared by the HTML views."""

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from ..extensions import db, login_manager
from .database import writing
from .errors import InvalidInput


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in every route is a row id, which PostgreSQL keeps in 32 bits: a larger number
    names no row, so it becomes 0 (no row has it) and the view answers 404 as for any unknown id,
    instead of the database failing on an out-of-range value."""

    MAX_ROW_ID = 2**31 - 1

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= self.MAX_ROW_ID else 0


def public_base() -> str:
    """The platform's public address (``LMS_PUBLIC_URL``), without a trailing slash."""
    return current_app.config["LMS_PUBLIC_URL"].rstrip("/")


def public_url(endpoint: str, **values) -> str:
    """An absolute link for whoever reads it outside this request (API answers, certificates,
    exports, mail): the public address and the endpoint's path. Never ``url_for(..., _external=True)``,
    which takes the host from the request's ``Host`` header: a client could make the platform hand
    out links to a host of its choosing."""
    return public_base() + url_for(endpoint, **values)


def safe_next_url(default: str) -> str:
    """A same-site path from ?next=, never an absolute URL to another host."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not parts.scheme and not parts.netloc:
        return target
    return default


def roles_required(*roles):
    """Refuse (403) users who hold none of the roles; anonymous users go to the login page."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not any(current_user.has_role(r) for r in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def writes_on_read(view):
    """For a GET view that writes (an audit event, a logged lookup): what was read before the view
    (the signed-in user) is committed, and the view's work runs in a transaction that takes
    SQLite's write lock at BEGIN, so a writer committing meanwhile cannot make it fail. Keep such
    views short: other writers wait for them."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        db.session.commit()
        with writing():
            return view(*args, **kwargs)

    return wrapper


def commit() -> None:
    """The edge commits, in one place."""
    db.session.commit()


# Room for the form fields and multipart headers around an uploaded file.
FORM_OVERHEAD_BYTES = 1024 * 1024


def body_limit(limit):
    """Let one view take a request body larger than the app-wide ``MAX_CONTENT_LENGTH``.

    ``limit()`` returns that view's cap in bytes, or None to keep the app-wide cap (say, for a
    user who may not upload: an anonymous request must not make the server spool gigabytes to
    disk before the login check). The cap has to be set before anything reads the body, and
    CSRF protection parses the form in its own ``before_request``; :func:`init_body_limits`
    installs the hook that applies it ahead of that. Put this decorator above the role check."""

    def decorator(view):
        view.body_limit = limit
        return view

    return decorator


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def checks_own_input(view):
    """Mark a view that refuses a NUL in what it reads itself, in a form of its own (the registration
    form's message on the field, the login's plain refusal, the HR API's error naming the parameter):
    :func:`init_input_guard` leaves it to the view. Its own tests send the NUL."""
    view.checks_own_input = True
    return view


def init_input_guard(app) -> None:
    """Refuse, before any view runs, a request whose address, query or form values (or JSON strings)
    contain a NUL character: no text a person types contains one, PostgreSQL cannot store it, and
    SQLite would store it silently. The answer is 400 with a message, never a server error; nothing
    is changed. (File names are cleaned where they are kept: :func:`lms.core.attachments.clean_name`;
    file contents are not looked at.) Views that check their own input say so (:func:`checks_own_input`).
    Call after :func:`init_body_limits` and before ``csrf.init_app``,
    so that the form is read under the view's size limit and before CSRF protection uses it."""
    @app.before_request
    def refuse_nul():
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if getattr(view, "checks_own_input", False):
            return
        sent = [request.path, *request.args.keys(), *(v for _k, v in request.args.items(multi=True))]
        if request.mimetype in FORM_TYPES:
            sent += [*request.form.keys(), *(v for _k, v in request.form.items(multi=True))]
        if any("\x00" in text for text in sent) or (request.is_json and _json_has_nul()):
            raise InvalidInput(_("提交的内容或网址中含有无效的空字符（NUL），请删除后重新提交。"), reason="nul")


def _json_has_nul() -> bool:
    try:
        return _has_nul(request.get_json(silent=True))
    except RecursionError:  # nested too deeply to read: the view refuses it in its own words
        return False


def init_body_limits(app) -> None:
    """Apply each view's :func:`body_limit`. Call before ``csrf.init_app`` so it runs first."""

    @app.before_request
    def apply_body_limit():
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        limit = getattr(view, "body_limit", None)
        if limit is not None:
            cap = limit()
            if cap is not None:
                request.max_content_length = cap
