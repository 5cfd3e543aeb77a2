"""The unit admin's decision on a learner (the CSRF token is checked for every POST by CSRFProtect)."""

from flask_babel import lazy_gettext as _l
from wtforms import StringField

from ..core.forms import Form


class DecisionForm(Form):
    """Approve or reject; ``reason`` is required to reject (checked by the service, which explains why)."""

    class Meta:
        csrf = False  # already checked application-wide before the view runs

    reason = StringField(_l("不通过的原因"))
    unit = StringField(_l("单位"))
