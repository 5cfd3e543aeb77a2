"""The console's forms (the CSRF token is checked for every POST by CSRFProtect). Fields are read
as typed; the services check them and name the field that is wrong."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField

from ..core.forms import Form


class ReasonForm(Form):
    reason = StringField(_l("原因（记入审计日志）"))


class GrantForm(ReasonForm):
    role = SelectField(_l("角色"), choices=[], validate_choice=False)
    organization = StringField(_l("机构（发布机构或用人单位的全称或统一社会信用代码）"))
    region_code = SelectField(_l("地区（人社审核、地区项目办）"), choices=[], validate_choice=False)
