from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..accounts.models import TitleLevel
from ..catalog.models import Category
from ..core.forms import Form
from .models import PriorityGroup, ProgrammeKind


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ProgrammeForm(Form):
    """Fields are strings: the service checks them and names the field that is wrong."""

    organization_id = SelectField(_l("主办基地或机构"), choices=[])
    kind = SelectField(_l("项目类型"), choices=[])
    title = StringField(_l("项目名称"), validators=[DataRequired(_l("请填写项目名称。")), Length(max=120)])
    domain = StringField(_l("专业领域"), validators=[DataRequired(_l("请填写专业领域。")), Length(max=60)])
    place = StringField(_l("举办地点"), validators=[DataRequired(_l("请填写举办地点。")), Length(max=120)])
    starts_on = StringField(_l("开始日期"), validators=[DataRequired(_l("请填写开始日期。"))], render_kw={"type": "date"})
    ends_on = StringField(_l("结束日期"), validators=[DataRequired(_l("请填写结束日期。"))], render_kw={"type": "date"})
    category = SelectField(_l("科目类别"), choices=[])
    quota = StringField(_l("名额（人）"), validators=[DataRequired(_l("请填写名额。"))], render_kw={"inputmode": "numeric"})
    min_title_level = SelectField(_l("报名要求的职称级别"), choices=[], validators=[Optional()])
    required_percent = StringField(_l("结业要求的出勤比例（%）"), default="80",
                                   validators=[DataRequired(_l("请填写出勤比例。"))], render_kw={"inputmode": "numeric"})
    description = TextAreaField(_l("项目介绍"), validators=[DataRequired(_l("请填写项目介绍。")), Length(max=2000)],
                                render_kw={"rows": 4})

    def __init__(self, *args, organizations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.organization_id.choices = [SelectChoice(str(o.id), o.name) for o in organizations]
        self.kind.choices = [SelectChoice(k.value, k.label) for k in ProgrammeKind]
        self.category.choices = [SelectChoice(c.value, c.label) for c in Category]
        self.min_title_level.choices = [SelectChoice("", _l("不限"))] + [
            SelectChoice(t.value, _l("%(level)s及以上", level=t.label)) for t in TitleLevel]


class SessionForm(Form):
    title = StringField(_l("课次名称"), validators=[DataRequired(_l("请填写课次名称。")), Length(max=120)])
    day = StringField(_l("上课日期"), validators=[DataRequired(_l("请填写上课日期。"))], render_kw={"type": "date"})
    starts = StringField(_l("上课时间"), validators=[DataRequired(_l("请填写上课时间。"))], render_kw={"type": "time"})
    ends = StringField(_l("下课时间"), validators=[DataRequired(_l("请填写下课时间。"))], render_kw={"type": "time"})
    hours = StringField(_l("学时（学时）"), validators=[DataRequired(_l("请填写学时。"))], render_kw={"inputmode": "decimal"})


class ApplyForm(Form):
    statement = TextAreaField(_l("报名理由"), validators=[DataRequired(_l("请填写报名理由。")), Length(max=1000)],
                              render_kw={"rows": 4})
    groups = CheckboxesField(_l("优先群体（符合的请勾选，主办方遴选时优先考虑）"), choices=[], validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups.choices = [SelectChoice(g.value, g.label) for g in PriorityGroup]


class SelectForm(Form):
    applications = CheckboxesField(_l("录取"), choices=[], coerce=int, validators=[Optional()])

    def __init__(self, *args, applications=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.applications.choices = [SelectChoice(a.id, a.user.real_name) for a in applications]


class ManualAttendanceForm(Form):
    learner = SelectField(_l("学员"), choices=[])
    reason = StringField(_l("补录原因"), validators=[DataRequired(_l("请填写补录原因。")), Length(max=500)])

    def __init__(self, *args, learners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.learner.choices = [SelectChoice(str(u.id), u.real_name) for u in learners]


class ScanForm(Form):
    token = HiddenField()
