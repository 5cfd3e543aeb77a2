"""Forms and the one way a view acts on a request.

A view parses its input, loads and authorizes, then hands one service call to :func:`run_form`
(a page with a form), :func:`run_action` (a button that posts and goes back) or
:func:`run_service` (anything else, e.g. a JSON endpoint). These commit the request's work in one
place, or roll it back and turn the service's :class:`~lms.core.errors.DomainError` into what the
user sees: a message on the form (what was typed is kept), a flash message, or the error itself.
Services only flush.

:class:`Form` is the base of every form. Besides binding a POST, it binds a submission that
CSRF protection refused (:mod:`lms.core.csrf`): the page is shown again with what was typed, a
fresh token and the reason, so the user only has to send it again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import BooleanField, FileField, RadioField, SelectMultipleField

from ..extensions import db
from . import csrf
from .csrf import RefusedSubmission, refused_submission
from .errors import DomainError

# ---------------------------------------------------------------- running a service


@dataclass(frozen=True)
class Outcome:
    """What became of a request's service call. True when its work is committed."""

    done: bool
    value: Any = None
    error: Exception | None = None  # a DomainError, or another refusal run_service was given
    status: int = 200  # for the page shown again: 400 for invalid input, the error's own status

    def __bool__(self) -> bool:
        return self.done


def run_service(action: Callable[[], Any], *, refusals: type | tuple = DomainError) -> Outcome:
    """Run ``action()`` (one service call) and commit; when it raises one of ``refusals``, roll
    back instead and return the error (status 400 for a refusal that is not a DomainError).
    Anything else propagates (the session is rolled back when the request ends)."""
    try:
        value = action()
    except refusals as exc:
        db.session.rollback()
        return Outcome(False, error=exc, status=getattr(exc, "status", 400))
    db.session.commit()
    return Outcome(True, value=value)


def form_error(form, exc: DomainError, *, field: str | None = None) -> None:
    """Show a domain error on the form field it names (else on ``field``, else above the form),
    keeping what was typed."""
    target = getattr(form, exc.field or field or "", None)
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def run_form(form, action: Callable[[], Any], *, field: str | None = None) -> Outcome:
    """For a valid submission of ``form``, run ``action()`` and commit. Otherwise nothing is
    changed and the outcome says what to show again: the form, with the validation errors or the
    service's message on it (on the field it names, else on ``field``, else above the form).
    ``status`` is 200 when nothing was sent, 400 for invalid input, else the error's status."""
    if not form.validate_on_submit():
        return Outcome(False, status=400 if form.is_submitted() else 200)
    outcome = run_service(action)
    if outcome.error is not None:
        form_error(form, outcome.error, field=field)
    return outcome


def run_action(action: Callable[[], Any], success: str, redirect_to: str):
    """A button's view: run ``action()``, commit and say so, or roll back and say why; then go to
    ``redirect_to`` either way."""
    outcome = run_service(action)
    if outcome.done:
        flash(success, "success")
    else:
        flash(outcome.error.message, "danger")
    return redirect(redirect_to)


# ---------------------------------------------------------------- the base form

def _always_sent(field) -> bool:
    """Whether a browser sends the field with every submission (unticked boxes and files are not)."""
    return not isinstance(field, BooleanField | RadioField | FileField | SelectMultipleField)


def _takes(form, refused: RefusedSubmission) -> bool:
    """Whether ``form`` is the one that was sent: on the form's own page, the first form built that
    shares a field with the submission; on the page it was sent from (whose forms may post
    elsewhere), the first one all of whose always-sent fields came."""
    if refused.taken:
        return False
    names = {name for name, field in form._fields.items() if field.type != "CSRFTokenField"}
    sent = names & set(refused.data)
    if not sent:
        return False
    return refused.own_page or all(name in sent for name in names if _always_sent(form._fields[name]))


class Form(FlaskForm):
    """The base of every form of the app: a POST binds it, and so does a refused POST shown again
    (:mod:`lms.core.csrf`); the form that was sent then says why it is shown again."""

    _bound_to_refused = False

    class Meta:
        def wrap_formdata(self, form, formdata):
            refused = refused_submission()
            if formdata is _Auto and refused is not None and _takes(form, refused):
                refused.taken = True
                form._bound_to_refused = True
                return refused.data
            return super().wrap_formdata(form, formdata)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        refused = refused_submission()
        if self._bound_to_refused and refused.own_page:
            self.form_errors.append(csrf.form_message())
            refused.told = True

    @property
    def is_bound(self) -> bool:
        """Whether the form shows what was sent, so that a view fills in stored values only when
        it does not."""
        return self.is_submitted() or self._bound_to_refused
