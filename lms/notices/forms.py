"""The notice editor (the CSRF token is checked for every POST by CSRFProtect)."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from ..core.forms import Form


class NoticeForm(Form):
    """Fields as typed: the service checks them and names the field that is wrong."""

    title = StringField(_l("标题"))
    body = TextAreaField(_l("正文（Markdown）"), render_kw={"rows": 10})
    region_code = SelectField(_l("发布范围"), choices=[], validate_choice=False)
    pinned = BooleanField(_l("置顶"))
    starts_on = DateField(_l("开始显示日期（留空为今天）"), validators=[Optional()])
    ends_on = DateField(_l("停止显示日期（可选，含当天）"), validators=[Optional()])


class WithdrawForm(Form):
    pass
