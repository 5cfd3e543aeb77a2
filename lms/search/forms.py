from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import Form


class SearchTermForm(Form):
    """Fields are strings: the service checks them and names the field that is wrong."""

    term_id = HiddenField(validators=[Optional()])
    term = StringField(_l("词语"), validators=[DataRequired(_l("请填写词语。")), Length(max=40)])
    synonyms = StringField(_l("同义词与缩写（空格或逗号分隔，可留空）"), validators=[Optional(), Length(max=400)])


class DeleteTermForm(Form):
    term_id = HiddenField(validators=[DataRequired()])
