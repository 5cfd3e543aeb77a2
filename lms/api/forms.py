from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import Form


class IssueClientForm(Form):
    """Fields are strings: the service checks the scope and names the field that is wrong."""

    name = StringField(_l("接口名称"), validators=[DataRequired(_l("请填写接口名称。")), Length(max=80)])
    scope_kind = RadioField(_l("可查看范围"), choices=[SelectChoice("region", _l("一个地区")), SelectChoice("unit", _l("一个单位"))], default="region")
    region = SelectField(_l("地区"), choices=[], validators=[Optional()])
    unit = StringField(_l("单位统一社会信用代码"), validators=[Optional(), Length(max=18)])
    full_id_numbers = BooleanField(_l("返回完整身份证号（每次读取均记入审计日志）"))
    expires_on = DateField(_l("有效期至（可选）"), validators=[Optional()])


class RotateForm(Form):
    """A new secret for a client; the old one keeps working for the grace period chosen."""

    grace_hours = SelectField(_l("旧密钥"), choices=[SelectChoice("24", _l("24 小时后失效")), SelectChoice("168", _l("7 天后失效")),
                                              SelectChoice("0", _l("立即失效"))], default="24")
    expires_on = DateField(_l("新的有效期至（可选，留空则不变）"), validators=[Optional()])


class RevokeForm(Form):
    pass
