from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import Form


class IssueClientForm(Form):
    """Fields are strings: the service checks the scope and names the field that is wrong."""

    name = StringField("接口名称", validators=[DataRequired("请填写接口名称。"), Length(max=80)])
    scope_kind = RadioField("可查看范围", choices=[SelectChoice("region", "一个地区"), SelectChoice("unit", "一个单位")], default="region")
    region = SelectField("地区", choices=[], validators=[Optional()])
    unit = StringField("单位统一社会信用代码", validators=[Optional(), Length(max=18)])
    full_id_numbers = BooleanField("返回完整身份证号（每次读取均记入审计日志）")
    expires_on = DateField("有效期至（可选）", validators=[Optional()])


class RotateForm(Form):
    """A new secret for a client; the old one keeps working for the grace period chosen."""

    grace_hours = SelectField("旧密钥", choices=[SelectChoice("24", "24 小时后失效"), SelectChoice("168", "7 天后失效"),
                                              SelectChoice("0", "立即失效")], default="24")
    expires_on = DateField("新的有效期至（可选，留空则不变）", validators=[Optional()])


class RevokeForm(Form):
    pass
