"""The programme office's forms (the CSRF token is checked for every POST by CSRFProtect). Fields
are read as typed; the services check them and name the field that is wrong."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import SelectField, StringField

from ..core.forms import Form


class PlanImportForm(Form):
    year = StringField(_l("年度"))
    scope = SelectField(_l("范围"), choices=[], validate_choice=False)
    file = FileField(_l("计划表（CSV 文件）"))


class DepartmentForm(Form):
    """The unit admin's choice of the unit's supervising department (主管部门)."""

    department = SelectField(_l("主管部门"), choices=[], validate_choice=False)
