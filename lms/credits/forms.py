from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import Form
from .models import ClassCredit


class RuleSetForm(Form):
    """Fields are strings: the service validates them and names the field that is wrong."""

    name = StringField(_l("规则名称"), validators=[DataRequired(_l("请填写规则名称。")), Length(max=80)])
    region_code = SelectField(_l("适用地区"), choices=[], validators=[Optional()])
    annual_hours = StringField(_l("年度总学时（学时）"), validators=[DataRequired(_l("请填写年度总学时。"))])
    public_min_hours = StringField(_l("公需科目最低学时（学时）"), validators=[DataRequired(_l("请填写公需科目最低学时。"))])
    minutes_per_hour = StringField(_l("每学时分钟数（分钟）"), validators=[DataRequired(_l("请填写每学时分钟数。"))])
    rounding_step = SelectField(_l("学时取整单位（学时）"), choices=[SelectChoice(v, v) for v in ("0.1", "0.25", "0.5", "1")])
    hour_tiers = StringField(_l("按课时长度分档（分钟:学时，可留空）"), validators=[Optional(), Length(max=120)])
    daily_cap_hours = StringField(_l("每日计入上限（学时，留空为不限）"), validators=[Optional()])
    cycle_end_month = SelectField(_l("年度结算月"), choices=[SelectChoice(str(m), _l("%(m)s 月", m=m)) for m in range(1, 13)])
    cycle_end_day = SelectField(_l("年度结算日"), choices=[SelectChoice(str(d), _l("%(d)s 日", d=d)) for d in range(1, 32)])
    coverage_threshold = StringField(_l("课时完成所需观看比例（%）"), validators=[DataRequired(_l("请填写观看比例。"))])
    allowed_rates = StringField(_l("允许的播放倍速（逗号分隔）"), validators=[DataRequired(_l("请填写允许的倍速。"))])
    quiz_pass_score = StringField(_l("结业测验合格分（分）"), validators=[DataRequired(_l("请填写合格分。"))])
    quiz_attempts = StringField(_l("结业测验次数（次）"), validators=[DataRequired(_l("请填写测验次数。"))])
    claim_caps = StringField(_l("学时登记每类年度上限（类型:学时，可留空）"), validators=[Optional(), Length(max=200)])
    claim_year_cap_hours = StringField(_l("学时登记年度合计上限（学时，留空为不限）"), validators=[Optional()])
    claims_need_region = SelectField(_l("学时登记经单位审核后"), validate_choice=False, choices=[
        SelectChoice("0", _l("直接记入学时")), SelectChoice("1", _l("再由地区人社部门确认"))])
    class_credit = SelectField(_l("研修培训学时计入方式"), validate_choice=False,
                               choices=[SelectChoice(c.value, _l(c.source_label)) for c in ClassCredit])


class ReasonForm(Form):
    reason = TextAreaField(_l("原因"), validators=[DataRequired(_l("请填写原因。")), Length(max=500)])
