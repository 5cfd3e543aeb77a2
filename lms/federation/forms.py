"""Forms of the federation pages (CSRF checked for every POST). Fields are read as typed; the
services check them and name the field that is wrong."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, SelectChoice, SelectField, StringField, TextAreaField

from ..core.forms import Form


class ShareForm(Form):
    code = SelectField(_l("要共享的课程"), choices=[], validate_choice=False)


class TokenForm(Form):
    name = StringField(_l("订阅方名称"))


class SubscribeForm(Form):
    url = StringField(_l("订阅源地址"))
    token = StringField(_l("订阅令牌"))
    mode = RadioField(_l("新课程导入后"), choices=[SelectChoice("draft", _l("先存为草稿，由本平台审核后发布")),
                                               SelectChoice("publish", _l("直接发布（对方已审核）"))], default="draft",
                      validate_choice=False)
    fingerprint = HiddenField()


class ReplaceTokenForm(Form):
    token = StringField(_l("新的订阅令牌"))


class IssuerForm(Form):
    issuer_id = StringField(_l("发证平台标识（issuer.id）"))
    name = StringField(_l("发证平台名称"))
    jwks_url = StringField(_l("公钥地址（JWKS，可不填）"))
    keys = TextAreaField(_l("或直接粘贴公钥（JWK Set JSON）"), render_kw={"rows": 3})


class PresentForm(Form):
    credential = FileField(_l("学时凭证文件（.jwt：课程凭证或 CLR 学时档案）"), render_kw={"accept": ".jwt,.txt,application/vc+jwt"})
    link = StringField(_l("或原平台的凭证授权链接"))
