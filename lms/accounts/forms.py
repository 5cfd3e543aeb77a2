from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Optional, ValidationError

from ..core.forms import Form
from .models import TitleLevel

TITLE_SERIES = ["", "工程技术", "卫生", "教师", "经济", "会计", "统计", "农业", "科学研究", "新闻", "出版",
                "翻译", "律师", "公证", "艺术", "图书资料", "文物博物", "档案", "工艺美术", "技工院校教师",
                "体育", "实验技术", "社会工作", "其他"]


def printable(form, field):
    """Names are stored as typed: a control character (NUL, a line break) is a paste accident, and
    PostgreSQL cannot store a NUL at all."""
    if field.data and not str(field.data).isprintable():
        raise ValidationError(_l("含有无法显示的控制字符，请删除后重新输入（可手动输入，不要粘贴）。"))


class RegistrationForm(Form):
    real_name = StringField(_l("真实姓名"), validators=[DataRequired(_l("请填写真实姓名。")), Length(max=50),
                                                       printable],
                            render_kw={"autocomplete": "name"})
    id_number = StringField(_l("身份证号"), validators=[DataRequired(_l("请填写 18 位身份证号。"))],
                            render_kw={"autocomplete": "off", "maxlength": 24, "inputmode": "text",  # room for spaces
                                       "spellcheck": "false"})
    mobile = StringField(_l("手机号"), validators=[Optional()], render_kw={"autocomplete": "tel",
                                                                          "inputmode": "numeric"})
    email = StringField(_l("电子邮箱"), validators=[Optional(), Length(max=254)],
                        render_kw={"autocomplete": "email", "type": "email"})
    region_code = SelectField(_l("所在地区"), validators=[DataRequired(_l("请选择所在地区。"))], choices=[])
    employer_name = StringField(_l("工作单位"), validators=[DataRequired(_l("请填写工作单位全称。")),
                                                           Length(max=120), printable],
                                render_kw={"autocomplete": "organization"})
    employer_credit_code = StringField(
        _l("单位统一社会信用代码"), validators=[DataRequired(_l("请填写 18 位统一社会信用代码。"))],
        render_kw={"maxlength": 24, "spellcheck": "false"})
    title_series = SelectField(_l("职称系列"), choices=[SelectChoice(s, s or _l("（暂无或不确定）")) for s in TITLE_SERIES],
                               validators=[Optional()])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请设置密码。"))],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("确认密码"), validators=[
        DataRequired(_l("请再次输入密码。")), EqualTo("password", _l("两次输入的密码不一致。"))],
        render_kw={"autocomplete": "new-password"})
    agree = BooleanField(_l("我已阅读并同意平台的个人信息保护说明"),
                         validators=[DataRequired(_l("请阅读并同意个人信息保护说明。"))])


class TitleLevelForm(Form):
    title_level = SelectField(_l("职称级别"), choices=[], validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title_level.choices = [SelectChoice("", _l("（暂无或不确定）"))] + [
            SelectChoice(t.value, t.label) for t in TitleLevel]


class LoginForm(Form):
    login = StringField(_l("身份证号 / 手机号 / 邮箱"), validators=[DataRequired(_l("请填写登录账号。"))],
                        render_kw={"autocomplete": "username"})
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请填写密码。"))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("在此设备上保持登录"))


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请填写当前密码。"))],
                                     render_kw={"autocomplete": "current-password"})
    password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请填写新密码。"))],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("确认新密码"), validators=[
        DataRequired(_l("请再次输入新密码。")), EqualTo("password", _l("两次输入的密码不一致。"))],
        render_kw={"autocomplete": "new-password"})


class ForgotPasswordForm(Form):
    login = StringField(_l("身份证号 / 手机号 / 邮箱"), validators=[DataRequired(_l("请填写注册时的身份证号、手机号或电子邮箱。")),
                                                          Length(max=254)],
                        render_kw={"autocomplete": "username", "spellcheck": "false"})
    channel = RadioField(_l("找回方式"), validators=[DataRequired(_l("请选择找回方式。"))], choices=[])


class ResetWithCodeForm(Form):
    login = StringField(_l("身份证号 / 手机号 / 邮箱"), validators=[DataRequired(_l("请填写申请找回时填写的账号。")),
                                                          Length(max=254)],
                        render_kw={"autocomplete": "username", "spellcheck": "false"})
    code = StringField(_l("短信验证码"), validators=[DataRequired(_l("请输入收到的 6 位数字验证码。")), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 12})
    password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请填写新密码。"))],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("确认新密码"), validators=[
        DataRequired(_l("请再次输入新密码。")), EqualTo("password", _l("两次输入的密码不一致。"))],
        render_kw={"autocomplete": "new-password"})


class ResetWithLinkForm(Form):
    # Filled in by static/js/reset-link.js from the link's #fragment, which browsers never send to a
    # server: the secret stays out of every access log and Referer header.
    token = HiddenField(validators=[Length(max=400)])
    password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请填写新密码。"))],
                             render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("确认新密码"), validators=[
        DataRequired(_l("请再次输入新密码。")), EqualTo("password", _l("两次输入的密码不一致。"))],
        render_kw={"autocomplete": "new-password"})


class VerifyContactForm(Form):
    channel = HiddenField(validators=[AnyOf(("mail", "sms"))])
    code = StringField(_l("验证码"), validators=[DataRequired(_l("请输入收到的 6 位数字验证码。")), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 12})


class SendVerificationForm(Form):
    channel = HiddenField(validators=[AnyOf(("mail", "sms"))])


class SendResetToAddressForm(Form):
    address = StringField(_l("新的电子邮箱或手机号"),
                          validators=[DataRequired(_l("请填写新的电子邮箱或手机号。")), Length(max=254)],
                          render_kw={"autocomplete": "off", "spellcheck": "false"})
    checked = BooleanField(_l("我已核实申请人的身份（如核对身份证件），并确认这个地址属于本人"),
                           validators=[DataRequired(_l("请先核实申请人的身份。"))])


class UnlockForm(Form):
    pass
