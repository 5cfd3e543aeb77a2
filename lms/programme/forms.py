"""The programme office's forms (the CSRF token is checked for every POST by CSRFProtect). Fields
are read as typed; the services check them and name the field that is wrong."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, MultipleFileField
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import DateInput

from ..core.forms import Form


class DateStringField(StringField):
    """A date typed as 年-月-日 (a browser's date picker where there is one); read as text, so that
    the service names a bad date instead of the field dropping it."""

    widget = DateInput()


class PlanImportForm(Form):
    year = StringField(_l("年度"))
    scope = SelectField(_l("范围"), choices=[], validate_choice=False)
    file = FileField(_l("计划表（CSV 文件）"))


class DepartmentForm(Form):
    """The unit admin's choice of the unit's supervising department (主管部门)."""

    department = SelectField(_l("主管部门"), choices=[], validate_choice=False)


class BaseForm(Form):
    """Entering a continuing-education base in the registry."""

    organization_name = StringField(_l("机构名称"))
    credit_code = StringField(_l("统一社会信用代码（选填）"))
    level = SelectField(_l("级别"), choices=[], validate_choice=False)
    region_code = SelectField(_l("所在地区"), choices=[], validate_choice=False)
    recognised_on = DateStringField(_l("认定日期"))
    document_number = StringField(_l("认定文号"))


class EvaluationForm(Form):
    year = StringField(_l("评估年度"))
    score = StringField(_l("得分（0–100）"))
    result = SelectField(_l("评估结果"), choices=[], validate_choice=False)
    evaluator = StringField(_l("评估单位或专家组"))
    evaluated_on = DateStringField(_l("评估日期"))
    note = TextAreaField(_l("说明（选填）"))
    attachments = MultipleFileField(_l("附件（PDF、JPG 或 PNG，选填）"))


class BaseStatusForm(Form):
    status = SelectField(_l("调整为"), choices=[], validate_choice=False)
    on = DateStringField(_l("日期"))
    note = StringField(_l("说明（选填）"))


class WithdrawForm(Form):
    on = DateStringField(_l("撤销日期"))
    reason = TextAreaField(_l("撤销原因"))


class InstitutionForm(Form):
    """Listing a training or evaluation institution in the directory."""

    kind = SelectField(_l("类别"), choices=[], validate_choice=False)
    name = StringField(_l("机构名称"))
    credit_code = StringField(_l("统一社会信用代码（选填）"))
    region_code = SelectField(_l("所在地区"), choices=[], validate_choice=False)
    fields = SelectMultipleField(_l("工作领域"), choices=[], validate_choice=False)
    reason = StringField(_l("说明（选填）"))


class InstitutionChangeForm(Form):
    """Suspending or restoring an entry: the reason shows in its public history."""

    reason = StringField(_l("原因"))


class InspectionPlanForm(Form):
    """A random inspection plan (双随机、一公开)."""

    title = StringField(_l("计划名称"))
    scope = SelectField(_l("范围"), choices=[], validate_choice=False)
    population = SelectField(_l("抽查对象"), choices=[], validate_choice=False)
    year = StringField(_l("年度"))
    target_count = StringField(_l("抽取对象数"))
    inspectors_per_target = StringField(_l("每个对象的检查人员数"))


class RevealForm(Form):
    """Revealing the seed: the one kept at freezing unless another is typed (checked against the commitment)."""

    seed = StringField(_l("种子（留空则使用冻结时生成并保存的种子）"))


class FindingForm(Form):
    result = SelectField(_l("检查结果"), choices=[], validate_choice=False)
    # The notes are published with the result when the plan closes, except for credit records (F16)
    notes = TextAreaField(_l("检查说明（计划结束后随检查结果公开，请勿填写个人信息；学时记录的检查说明不公开）"))


class NotInspectedForm(Form):
    """The office closing the task of a drawn inspector who has left; the reason is published."""

    reason = StringField(_l("原因（将随检查结果公开）"))


class CancelPlanForm(Form):
    """The office cancelling a plan before it closes; the reason is published with a frozen plan."""

    reason = TextAreaField(_l("撤销原因（冻结后撤销的，原因将随计划公开）"))
