"""The one way a view acts (lms/core/forms.py): commit on success, roll back on a refusal."""

import pytest
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired

from lms.accounts.models import Region
from lms.core.errors import Conflict, InvalidInput
from lms.core.forms import Form, run_form, run_service


class NameForm(Form):
    class Meta:
        csrf = False

    name = StringField(validators=[DataRequired()])


def _region(db_session, name):
    return db_session.scalar(select(Region).where(Region.name == name))


def _add(db_session, name):
    db_session.add(Region(code="990000", name=name))
    db_session.flush()
    return name


def test_the_work_is_committed_and_its_value_returned(app, db_session):
    with app.test_request_context(method="POST"):
        outcome = run_service(lambda: _add(db_session, "试验区"))
    assert outcome and outcome.value == "试验区" and outcome.error is None
    db_session.rollback()  # nothing left to undo: it was committed
    assert _region(db_session, "试验区") is not None


def test_a_refusal_rolls_back_and_is_returned_with_its_status(app, db_session):
    def refuse():
        _add(db_session, "撤回区")
        raise Conflict("已有同名地区。")

    with app.test_request_context(method="POST"):
        outcome = run_service(refuse)
    assert not outcome and outcome.status == 409 and outcome.error.message == "已有同名地区。"
    assert _region(db_session, "撤回区") is None


def test_anything_else_propagates(app, db_session):
    with app.test_request_context(method="POST"), pytest.raises(ZeroDivisionError):
        run_service(lambda: 1 / 0)


@pytest.mark.parametrize(("method", "data", "status"), [("GET", {}, 200), ("POST", {"name": ""}, 400)])
def test_a_form_not_sent_or_invalid_runs_nothing(app, method, data, status):
    ran = []
    with app.test_request_context(method=method, data=data):
        form = NameForm()
        outcome = run_form(form, lambda: ran.append(1))
    assert not outcome and outcome.status == status and ran == []


def test_a_refusal_is_shown_on_the_field_it_names_keeping_what_was_typed(app, db_session):
    def refuse():
        raise InvalidInput("名称已被占用。", field="name")

    with app.test_request_context(method="POST", data={"name": "华东"}):
        form = NameForm()
        outcome = run_form(form, refuse)
    assert not outcome and outcome.status == 400
    assert form.name.errors == ["名称已被占用。"] and form.name.data == "华东"
