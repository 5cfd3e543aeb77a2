from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DecimalField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..assessment.models import QuestionKind
from ..catalog.models import Category, LessonKind
from ..core.forms import Form

CATEGORY_CHOICES = [SelectChoice(c.value, _l(c.source_label)) for c in Category]


class CourseForm(Form):
    code = StringField(_l("课程编号"), validators=[Optional(), Length(max=32)],
                       render_kw={"placeholder": _l("如 GX-NS-101"), "spellcheck": "false"})
    organization_id = SelectField(_l("发布机构"), coerce=int, choices=[], validate_choice=False)
    title = StringField(_l("课程名称"), validators=[DataRequired(_l("请填写课程名称。")), Length(max=120)])
    subject_id = SelectField(_l("科目主题"), coerce=int, choices=[], validators=[InputRequired(_l("请选择科目主题。"))])
    category = SelectField(_l("科目类别"), choices=CATEGORY_CHOICES)
    summary = TextAreaField(_l("课程简介"), validators=[Length(max=500)], render_kw={"rows": 3})
    syllabus = TextAreaField(_l("教学大纲"), validators=[Length(max=20000)], render_kw={"rows": 8})
    tags = StringField(_l("关键词"), validators=[Length(max=300)], render_kw={"placeholder": _l("用逗号或空格分隔")})
    credit_hours = DecimalField(_l("学时"), places=1, validators=[Optional(), NumberRange(min=0.5, max=20)])
    has_exam = BooleanField(_l("设置结业测验"), default=True)
    pass_score = IntegerField(_l("及格分"), default=60, validators=[Optional(), NumberRange(min=0, max=100)])


class ChapterForm(Form):
    title = StringField(_l("章节名称"), validators=[DataRequired(_l("请填写章节名称。")), Length(max=120)])


class LessonForm(Form):
    title = StringField(_l("课时名称"), validators=[DataRequired(_l("请填写课时名称。")), Length(max=120)])
    kind = SelectField(_l("课时类型"), choices=[SelectChoice(k.value, _l(k.source_label))
                                                   for k in (LessonKind.VIDEO, LessonKind.READING)])
    body = TextAreaField(_l("正文 / 讲稿（Markdown）"), render_kw={"rows": 10})
    media_asset_id = SelectField(_l("视频"), coerce=int, choices=[], validate_choice=False)


class QuestionForm(Form):
    kind = SelectField(_l("题型"), choices=[SelectChoice(k.value, _l(k.source_label)) for k in QuestionKind])
    text = TextAreaField(_l("题干"), validators=[DataRequired(_l("请填写题干。"))], render_kw={"rows": 2})
    options = TextAreaField(_l("选项（每行一个，判断题不填）"), render_kw={"rows": 4})
    answer = StringField(_l("答案"), validators=[DataRequired(_l("请填写答案。"))],
                         render_kw={"placeholder": _l("单选如 B，多选如 ACD，判断题填 true 或 false")})
    explanation = TextAreaField(_l("解析"), render_kw={"rows": 2})


class RejectForm(Form):
    reason = TextAreaField(_l("退回原因"), validators=[DataRequired(_l("请写明退回原因。")), Length(min=5, max=2000)],
                           render_kw={"rows": 3})


class UploadForm(Form):
    file = FileField(_l("视频文件"))


class CaptionsForm(Form):
    file = FileField(_l("字幕文件（SRT 或 WebVTT）"))


class PackageForm(Form):
    file = FileField(_l("课程包（.zip）"))
