from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..catalog.models import Category
from ..core.forms import Form
from .models import ClaimKind


class ClaimForm(Form):
    """Fields are strings: the service checks them and names the field that is wrong."""

    kind = SelectField(_l("学时类型"), choices=[])
    title = StringField(_l("活动名称"), validators=[DataRequired(_l("请填写活动名称。")), Length(max=120)])
    activity_date = StringField(_l("活动日期（年-月-日）"), validators=[DataRequired(_l("请填写活动日期。"))],
                                render_kw={"type": "date"})
    hours = StringField(_l("申报学时（学时）"), validators=[DataRequired(_l("请填写申报学时。"))],
                        render_kw={"inputmode": "decimal"})
    category = SelectField(_l("科目类别"), choices=[])
    description = TextAreaField(_l("活动说明"), validators=[DataRequired(_l("请填写活动说明。")), Length(max=2000)],
                                render_kw={"rows": 4})
    evidence = MultipleFileField(_l("证明材料（PDF、JPG 或 PNG，每份不超过 5 MB，最多 3 份）"),
                                 render_kw={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [SelectChoice(k.value, k.label) for k in ClaimKind]
        self.category.choices = [SelectChoice(c.value, c.label) for c in Category]


class ReviewForm(Form):
    decision = SelectField(_l("审核结果"), choices=[])
    hours = StringField(_l("核减后的学时（学时）"), validators=[Optional()], render_kw={"inputmode": "decimal"})
    reason = TextAreaField(_l("原因（核减或不予认定时必填，学员会看到）"), validators=[Optional(), Length(max=500)],
                           render_kw={"rows": 3})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decision.choices = [SelectChoice("approve", _l("通过")), SelectChoice("reduce", _l("核减后通过")),
                                 SelectChoice("reject", _l("不予认定"))]
