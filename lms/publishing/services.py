"""The publisher's operations on courses and the reviewer's decisions.

Every function takes the acting user first and checks that the user may act on the object;
they flush, and the caller commits. Every change to a version records its author
(``CourseEditor``): whoever created, edited or submitted a version may not approve it
(``lms.core.duties``).
"""

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select

from ..accounts.models import Organization, Role, User
from ..assessment.models import QuestionKind, QuizQuestion
from ..catalog import duration
from ..catalog.models import Category, Chapter, Course, CourseStatus, Lesson, LessonKind, Subject
from ..catalog.packages import CODE_PATTERN
from ..catalog.permissions import can_edit, publisher_orgs
from ..catalog.services import import_archive
from ..core import signals
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.duties import ensure_not_involved
from ..core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from ..core.formatting import format_hours
from ..core.storage import media_storage
from ..credits.services import completions_by_course, ensure_national_rule_set, round_down
from ..extensions import db
from ..learning.models import Enrollment
from ..media.models import MediaAsset, MediaStatus
from .models import Contribution, CourseEditor, ReviewEvent

# ---------------------------------------------------------------- who may do what


def require_editor(actor: User, course: Course) -> None:
    if not can_edit(actor, course):
        raise NotAllowed(_("您不是这门课程所属机构的课件发布人员，不能编辑或查看它。"))


def require_editable(actor: User, course: Course) -> None:
    require_editor(actor, course)
    if not CourseStatus(course.status).editable:
        if course.status == CourseStatus.IN_REVIEW:
            raise Conflict(_("课程正在审核中，不能修改。如需修改，请等待审核结果。"))
        raise Conflict(_("已发布的课程内容不能直接修改。请点击“创建新版本”，修改后重新提交审核。"))


def require_reviewer(actor: User) -> None:
    if not (actor.has_role(Role.REVIEWER) or actor.has_role(Role.ADMIN)):
        raise NotAllowed(_("只有课程审核员可以审核课程。"))


# ---------------------------------------------------------------- authorship (separation of duties)


def _record(actor: User, course: Course, kind: Contribution) -> None:
    """Note that ``actor`` created, edited or submitted this version (once per kind; the last time too)."""
    row = db.session.scalar(select(CourseEditor).where(CourseEditor.course_id == course.id,
                                                       CourseEditor.user_id == actor.id,
                                                       CourseEditor.kind == kind.value))
    if row is None:
        db.session.add(CourseEditor(course_id=course.id, user_id=actor.id, kind=kind.value))
    else:
        row.last_at = utcnow_naive()


def _edited(actor: User, course: Course) -> None:
    _record(actor, course, Contribution.EDITED)
    db.session.flush()


def involved_user_ids(course: Course) -> set[int]:
    """Everyone who created, edited or submitted this version."""
    ids = set(db.session.scalars(select(CourseEditor.user_id).where(CourseEditor.course_id == course.id)))
    ids.add(course.created_by_id)
    ids.discard(None)
    return ids


def _approval_subject(course: Course) -> str:
    return _("《%(title)s》第 %(version)s 版", title=course.title, version=course.version)


def ensure_may_approve(actor: User | None, course: Course) -> None:
    """The approver is a named reviewer (or admin) who took no part in making this version."""
    if actor is not None:
        require_reviewer(actor)
    ensure_not_involved(actor, involved_user_ids(course), _("审核通过"), subject=_approval_subject(course))


def approval_refusal(actor: User, course: Course) -> str | None:
    """Why ``actor`` may not approve this version, for the review page; None when they may."""
    try:
        ensure_may_approve(actor, course)
    except NotAllowed as exc:
        return exc.message
    return None


# ---------------------------------------------------------------- course fields


@dataclass(frozen=True)
class CourseData:
    title: str
    subject_id: int
    category: str
    summary: str
    syllabus: str
    tags: str  # comma or space separated
    credit_hours: Decimal | None
    has_exam: bool
    pass_score: int | None = 60


def _clean_tags(raw: str) -> list[str]:
    # Separators as typed on any keyboard: , ; and the full-width comma, enumeration comma and semicolon.
    tags = [t.strip() for t in re.split(r"[,\uff0c\u3001;\uff1b\s]+", raw or "") if t.strip()]
    return list(dict.fromkeys(tags))[:12]


def _apply(course: Course, data: CourseData) -> None:
    title = (data.title or "").strip()
    if not 2 <= len(title) <= 120:
        raise InvalidInput(_("课程名称应为 2–120 个字。"), field="title")
    if db.session.get(Subject, data.subject_id) is None:
        raise InvalidInput(_("请选择科目主题。"), field="subject_id")
    try:
        category = Category(data.category)
    except ValueError:
        raise InvalidInput(_("请选择科目类别：公需、专业或选修。"), field="category") from None
    if len(data.summary or "") > 500:
        raise InvalidInput(_("课程简介不能超过 500 字。"), field="summary")
    if data.has_exam and (data.pass_score is None or not 0 <= data.pass_score <= 100):
        raise InvalidInput(_("及格分应为 0–100 的整数。"), field="pass_score")
    course.title = title
    course.subject_id = data.subject_id
    course.category = category.value
    course.summary = (data.summary or "").strip()
    course.syllabus = (data.syllabus or "").strip()
    course.tags = _clean_tags(data.tags)
    course.pass_score = data.pass_score if data.has_exam else None
    if data.credit_hours is not None:
        course.credit_hours = check_credit_hours(course, data.credit_hours)


def create_course(actor: User, organization: Organization, code: str, data: CourseData) -> Course:
    if organization.id not in publisher_orgs(actor) and not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("您不能以该机构的名义发布课程。"))
    code = unicodedata.normalize("NFKC", code or "").strip().upper()  # full-width input from Chinese keyboards too
    if not CODE_PATTERN.match(code):
        raise InvalidInput(_("课程编号只能由大写字母、数字和连字符组成，3–32 位，如 GX-NS-101。"), field="code")
    if db.session.scalar(select(Course.id).where(Course.code == code)):
        raise Conflict(_("课程编号 %(code)s 已被使用，请换一个。", code=code), field="code")
    course = Course(code=code, version=1, publisher_id=organization.id, status=CourseStatus.DRAFT,
                    credit_hours=Decimal("0.5"), created_by_id=actor.id)
    _apply(course, data)
    db.session.add(course)
    db.session.flush()
    _record(actor, course, Contribution.CREATED)
    record_event(actor, "course.created", course, code=code)
    return course


def update_course(actor: User, course: Course, data: CourseData) -> Course:
    require_editable(actor, course)
    _apply(course, data)
    _edited(actor, course)
    return course


# ---------------------------------------------------------------- credit hours


def _national_rule():
    """Course hours are set once for every learner, so they follow the national rule set."""
    return ensure_national_rule_set()


def rule_minutes_per_hour() -> int:
    return int(_national_rule().minutes_per_hour)


def rule_hours_step() -> Decimal:
    return Decimal(_national_rule().rounding_step).normalize()


def video_seconds(course: Course) -> int:
    return duration.video_seconds(course)


def most_credit_hours(course: Course) -> Decimal:
    """The most hours the national rule allows for the course's videos and reading time: their
    minutes ÷ the rule's minutes per 学时, rounded down to the rule's step."""
    video, reading = duration.study_seconds(course)
    return round_down(Decimal(video + reading) / 60 / rule_minutes_per_hour(), rule_hours_step())


def check_hours_fit_content(course: Course, hours: Decimal) -> Decimal:
    """Refuse hours beyond :func:`most_credit_hours`, saying the numbers (the import and the editor)."""
    most = most_credit_hours(course)
    if Decimal(hours) > most:
        video, reading = duration.study_seconds(course)
        most_text = f"{most:.1f}"  # 0.0 too: the rule allows nothing
        raise InvalidInput(_("课程标称 %(hours)s 学时，但视频与阅读时长合计 %(length)s（视频 %(video)s，阅读约 %(reading)s），"
                             "按每学时 %(minutes)s 分钟最多可认定 %(most)s 学时。请补充课程内容或降低学时。",
                             hours=format_hours(hours), length=duration.format_duration(video + reading),
                             video=duration.format_duration(video), reading=duration.format_duration(reading),
                             minutes=rule_minutes_per_hour(), most=most_text), field="credit_hours")
    return hours


def _check_imported_course(_sender, course: Course, **_kwargs) -> None:
    check_hours_fit_content(course, course.credit_hours)


def connect_signals() -> None:
    """Every imported package (command line or upload) is held to the national rule's hours."""
    signals.course_imported.connect(_check_imported_course, weak=False)


def round_to_step(hours: Decimal, step: Decimal) -> Decimal:
    return (hours / step).quantize(Decimal("1"), rounding=ROUND_HALF_UP) * step


def suggested_credit_hours(course: Course) -> Decimal:
    """Total video minutes ÷ the rule's minutes per 学时, rounded to the rule's step (at least one step)."""
    step = rule_hours_step()
    minutes = Decimal(video_seconds(course)) / 60
    return max(step, round_to_step(minutes / rule_minutes_per_hour(), step))


def credit_hours_bounds(course: Course) -> tuple[Decimal, Decimal]:
    """The publisher may adjust the suggestion by at most one step either way, and never above what the
    videos and reading time allow (:func:`most_credit_hours`)."""
    step, suggested = rule_hours_step(), suggested_credit_hours(course)
    low = max(step, suggested - step)
    return low, max(low, min(suggested + step, most_credit_hours(course)))


def check_credit_hours(course: Course, hours: Decimal) -> Decimal:
    step = rule_hours_step()
    if hours <= 0 or hours % step:
        raise InvalidInput(_("学时应为 %(step)s 的整数倍。", step=step), field="credit_hours")
    if course.id is None or not video_seconds(course):
        return hours  # bounds apply once there is video to measure
    check_hours_fit_content(course, hours)
    low, high = credit_hours_bounds(course)
    if not low <= hours <= high:
        raise InvalidInput(_("按视频总时长，本课程建议 %(suggested)s 学时，可调整范围为 %(low)s–%(high)s 学时。",
                             suggested=suggested_credit_hours(course), low=low, high=high), field="credit_hours")
    return hours


# ---------------------------------------------------------------- outline


def add_chapter(actor: User, course: Course, title: str) -> Chapter:
    require_editable(actor, course)
    title = (title or "").strip()
    if not 1 <= len(title) <= 120:
        raise InvalidInput(_("章节名称应为 1–120 个字。"), field="title")
    chapter = Chapter(title=title, position=len(course.chapters) + 1)
    course.chapters.append(chapter)
    _edited(actor, course)
    return chapter


def rename_chapter(actor: User, chapter: Chapter, title: str) -> None:
    require_editable(actor, chapter.course)
    title = (title or "").strip()
    if not 1 <= len(title) <= 120:
        raise InvalidInput(_("章节名称应为 1–120 个字。"), field="title")
    chapter.title = title
    _edited(actor, chapter.course)


def delete_chapter(actor: User, chapter: Chapter) -> None:
    course = chapter.course
    require_editable(actor, course)
    course.chapters.remove(chapter)
    _renumber(course)
    _edited(actor, course)


@dataclass(frozen=True)
class LessonData:
    title: str
    kind: str
    body: str = ""


def add_lesson(actor: User, chapter: Chapter, data: LessonData) -> Lesson:
    require_editable(actor, chapter.course)
    lesson = Lesson(position=len(chapter.lessons) + 1)
    _apply_lesson(lesson, data)
    chapter.lessons.append(lesson)
    _edited(actor, chapter.course)
    return lesson


def update_lesson(actor: User, lesson: Lesson, data: LessonData) -> None:
    require_editable(actor, lesson.chapter.course)
    _apply_lesson(lesson, data)
    _edited(actor, lesson.chapter.course)


def _apply_lesson(lesson: Lesson, data: LessonData) -> None:
    title = (data.title or "").strip()
    if not 1 <= len(title) <= 120:
        raise InvalidInput(_("课时名称应为 1–120 个字。"), field="title")
    if data.kind not in (LessonKind.VIDEO, LessonKind.READING):
        raise InvalidInput(_("课时类型应为视频或图文。"), field="kind")
    if data.kind == LessonKind.READING and not (data.body or "").strip():
        raise InvalidInput(_("图文课时需要正文。"), field="body")
    if len(data.body or "") > 100_000:
        raise InvalidInput(_("正文过长（上限 10 万字）。"), field="body")
    lesson.title, lesson.kind, lesson.body = title, data.kind, (data.body or "").strip()
    if lesson.kind != LessonKind.VIDEO:
        lesson.media_asset_id = None


def delete_lesson(actor: User, lesson: Lesson) -> None:
    chapter = lesson.chapter
    require_editable(actor, chapter.course)
    chapter.lessons.remove(lesson)
    _renumber(chapter.course)
    _edited(actor, chapter.course)


def attach_video(actor: User, lesson: Lesson, asset: MediaAsset) -> None:
    require_editable(actor, lesson.chapter.course)
    if asset.organization_id != lesson.chapter.course.publisher_id:
        raise NotAllowed(_("只能使用本机构媒体库中的视频。"))
    if lesson.kind != LessonKind.VIDEO:
        raise InvalidInput(_("只有视频课时可以关联视频。"))
    lesson.media_asset_id = asset.id
    _edited(actor, lesson.chapter.course)


def save_lesson(actor: User, lesson: Lesson, data: LessonData, *, media_asset_id: int | None = None) -> None:
    """The lesson page's save: its fields, and for a video lesson the video chosen (if any)."""
    update_lesson(actor, lesson, data)
    if data.kind == LessonKind.VIDEO and media_asset_id:
        asset = db.session.get(MediaAsset, media_asset_id)
        if asset is None:
            raise InvalidInput(_("所选视频不存在。"), field="media_asset_id")
        attach_video(actor, lesson, asset)


def reorder_outline(actor: User, course: Course, order: list[tuple[int, list[int]]]) -> None:
    """``order``: [(chapter id, [lesson ids…]), …] — the whole outline, as the editor shows it.

    Lessons may move between chapters of the same course; anything else is refused.
    """
    require_editable(actor, course)
    chapters = {c.id: c for c in course.chapters}
    lessons = {lesson.id: lesson for c in course.chapters for lesson in c.lessons}
    seen_chapters = [cid for cid, _ in order]
    seen_lessons = [lid for _, lids in order for lid in lids]
    if sorted(seen_chapters) != sorted(chapters) or sorted(seen_lessons) != sorted(lessons):
        raise InvalidInput(_("目录已在别处被修改，请刷新页面后再调整顺序。"))
    for position, (cid, lids) in enumerate(order, start=1):
        chapter = chapters[cid]
        chapter.position = position
        for lpos, lid in enumerate(lids, start=1):
            lesson = lessons[lid]
            lesson.position = lpos
            if lesson.chapter is not chapter:
                lesson.chapter = chapter  # moves it between the two collections; never an orphan
    for chapter in chapters.values():
        chapter.lessons.sort(key=lambda lesson: lesson.position)
    course.chapters.sort(key=lambda c: c.position)
    _edited(actor, course)


def move(actor: User, course: Course, kind: str, item_id: int, direction: int) -> None:
    """Move a chapter or a lesson one place up (-1) or down (+1): the keyboard way to reorder."""
    order = [(c.id, [lesson.id for lesson in c.lessons]) for c in course.chapters]
    if kind == "chapter":
        ids = [cid for cid, _ in order]
        if item_id not in ids:
            raise NotFound(_("章节不存在。"))
        i = ids.index(item_id)
        j = i + direction
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
    else:
        for ci, (_cid, lids) in enumerate(order):
            if item_id in lids:
                i = lids.index(item_id)
                j = i + direction
                if 0 <= j < len(lids):
                    lids[i], lids[j] = lids[j], lids[i]
                elif 0 <= ci + direction < len(order):  # across the chapter boundary
                    lids.pop(i)
                    target = order[ci + direction][1]
                    target.insert(len(target) if direction < 0 else 0, item_id)
                break
        else:
            raise NotFound(_("课时不存在。"))
    reorder_outline(actor, course, order)


def _renumber(course: Course) -> None:
    for position, chapter in enumerate(course.chapters, start=1):
        chapter.position = position
        for lpos, lesson in enumerate(chapter.lessons, start=1):
            lesson.position = lpos


# ---------------------------------------------------------------- exam questions


@dataclass(frozen=True)
class QuestionData:
    kind: str
    text: str
    options: list[str]
    answer: str
    explanation: str = ""


def _clean_question(data: QuestionData) -> tuple[list[str], str]:
    try:
        kind = QuestionKind(data.kind)
    except ValueError:
        raise InvalidInput(_("请选择题型。"), field="kind") from None
    if not (data.text or "").strip():
        raise InvalidInput(_("请填写题干。"), field="text")
    if kind == QuestionKind.TRUE_FALSE:
        answer = (data.answer or "").strip().lower()
        if answer not in ("true", "false"):
            raise InvalidInput(_("判断题答案应为“正确”或“错误”。"), field="answer")
        return [], answer
    options = [o.strip() for o in data.options if o and o.strip()]
    if not 2 <= len(options) <= 6:
        raise InvalidInput(_("选择题需要 2–6 个选项。"), field="options")
    letters = "ABCDEF"[: len(options)]
    answer = "".join(sorted(set((data.answer or "").strip().upper())))
    if not answer or any(c not in letters for c in answer):
        raise InvalidInput(_("答案应为选项字母（%(first)s–%(last)s）。", first=letters[0], last=letters[-1]), field="answer")
    if kind == QuestionKind.SINGLE and len(answer) != 1:
        raise InvalidInput(_("单选题只能有一个正确答案。"), field="answer")
    if kind == QuestionKind.MULTIPLE and len(answer) < 2:
        raise InvalidInput(_("多选题应有两个及以上正确答案。"), field="answer")
    return options, answer


def add_question(actor: User, course: Course, data: QuestionData) -> QuizQuestion:
    require_editable(actor, course)
    options, answer = _clean_question(data)
    position = (db.session.scalar(select(func.max(QuizQuestion.position))
                                  .where(QuizQuestion.course_id == course.id)) or 0) + 1
    question = QuizQuestion(course_id=course.id, position=position, kind=data.kind, text=data.text.strip(),
                            options=options, answer=answer, explanation=(data.explanation or "").strip())
    db.session.add(question)
    _edited(actor, course)
    return question


def delete_question(actor: User, question: QuizQuestion) -> None:
    course = db.session.get(Course, question.course_id)
    require_editable(actor, course)
    db.session.delete(question)
    _edited(actor, course)


def questions_of(course: Course) -> list[QuizQuestion]:
    return list(db.session.scalars(select(QuizQuestion).where(QuizQuestion.course_id == course.id)
                                   .order_by(QuizQuestion.position)))


# ---------------------------------------------------------------- versions and review


def _transition(actor: User, course: Course, to: CourseStatus, reason: str = "") -> None:
    db.session.add(ReviewEvent(course_id=course.id, actor_id=actor.id, from_status=course.status,
                               to_status=to.value, reason=reason))
    course.status = to.value
    record_event(actor, f"course.{to.value}", course, code=course.code, version=course.version, reason=reason)


def publish_problems(course: Course) -> list[str]:
    """What keeps a version from being submitted, in words the publisher can act on."""
    problems = []
    lessons = course.lessons
    if not lessons:
        problems.append(_("课程还没有任何课时。"))
    for lesson in lessons:
        if lesson.kind == LessonKind.VIDEO:
            asset = lesson.media_asset
            if asset is None:
                problems.append(_("视频课时“%(title)s”还没有关联视频。", title=lesson.title))
            elif asset.status != MediaStatus.READY or not (asset.mp4_path or asset.hls_path):
                problems.append(_("视频课时“%(title)s”的视频尚未转码完成。", title=lesson.title))
    if course.pass_score is not None and len(questions_of(course)) < 5:
        problems.append(_("课程设置了结业测验，题库至少需要 5 道题。"))
    if not course.summary:
        problems.append(_("请填写课程简介。"))
    return problems


def submit_course(actor: User, course: Course) -> None:
    require_editable(actor, course)
    problems = publish_problems(course)
    if problems:
        raise InvalidInput(_("暂不能提交审核：%(problems)s", problems=" ".join(problems)))
    _transition(actor, course, CourseStatus.IN_REVIEW)
    _record(actor, course, Contribution.SUBMITTED)
    db.session.flush()


def approve_course(actor: User, course: Course) -> None:
    require_reviewer(actor)
    if course.status != CourseStatus.IN_REVIEW:
        raise Conflict(_("这门课程不在审核中。"))
    ensure_may_approve(actor, course)
    problems = publish_problems(course)
    if problems:
        raise InvalidInput(_("不能通过：%(problems)s", problems=" ".join(problems)))
    previous = db.session.scalars(select(Course).where(Course.code == course.code, Course.id != course.id,
                                                       Course.status == CourseStatus.PUBLISHED)).all()
    for old in previous:
        # Learners who enrolled in the old version keep studying it; it leaves the catalog.
        _transition(actor, old, CourseStatus.RETIRED, reason=_("由第 %(version)s 版替代", version=course.version))
    _transition(actor, course, CourseStatus.PUBLISHED)
    course.published_at = utcnow_naive()
    course.approved_by_id = actor.id
    db.session.flush()
    app = current_app._get_current_object()
    for old in previous:
        signals.course_retired.send(app, course=old)
    signals.course_published.send(app, course=course)


def publish_imported_version(approver: User, course: Course, *, reason: str) -> None:
    """Publish at once a version imported from a subscribed feed whose subscription says so (the
    admin who subscribed chose to take that publisher's reviewed courses as they come): the same
    transitions as an approval — the code's published version retires, its learners keep studying
    it — recorded with ``approver`` (that admin) and ``reason``."""
    previous = db.session.scalars(select(Course).where(Course.code == course.code, Course.id != course.id,
                                                       Course.status == CourseStatus.PUBLISHED)).all()
    for old in previous:
        _transition(approver, old, CourseStatus.RETIRED, reason=_("由第 %(version)s 版替代", version=course.version))
    _transition(approver, course, CourseStatus.PUBLISHED, reason=reason)
    course.published_at = utcnow_naive()
    course.approved_by_id = approver.id
    db.session.flush()
    app = current_app._get_current_object()
    for old in previous:
        signals.course_retired.send(app, course=old)
    signals.course_published.send(app, course=course)


def reject_course(actor: User, course: Course, reason: str) -> None:
    require_reviewer(actor)
    if course.status != CourseStatus.IN_REVIEW:
        raise Conflict(_("这门课程不在审核中。"))
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise InvalidInput(_("请写明退回原因（至少 5 个字），以便发布机构修改。"), field="reason")
    _transition(actor, course, CourseStatus.REJECTED, reason=reason)
    db.session.flush()


def retire_course(actor: User, course: Course, reason: str) -> None:
    if not (can_edit(actor, course) or actor.has_role(Role.REVIEWER)):
        raise NotAllowed(_("您不能下线这门课程。"))
    if course.status != CourseStatus.PUBLISHED:
        raise Conflict(_("只有已发布的课程可以下线。"))
    _transition(actor, course, CourseStatus.RETIRED, reason=(reason or "").strip())
    db.session.flush()
    signals.course_retired.send(current_app._get_current_object(), course=course)


def new_version(actor: User, course: Course) -> Course:
    """A draft copy of a published (or retired) version, numbered one higher; the existing draft if any."""
    require_editor(actor, course)
    latest = db.session.scalar(select(Course).where(Course.code == course.code).order_by(Course.version.desc()))
    if CourseStatus(latest.status).editable or latest.status == CourseStatus.IN_REVIEW:
        return latest
    copy = Course(code=course.code, version=latest.version + 1, title=course.title, subject_id=course.subject_id,
                  category=course.category, credit_hours=course.credit_hours, publisher_id=course.publisher_id,
                  status=CourseStatus.DRAFT, summary=course.summary, syllabus=course.syllabus,
                  tags=list(course.tags or []), pass_score=course.pass_score,
                  exam_attempt_size=course.exam_attempt_size, cover_path=course.cover_path,
                  created_by_id=actor.id)
    for chapter in course.chapters:
        new_chapter = Chapter(position=chapter.position, title=chapter.title)
        copy.chapters.append(new_chapter)
        for lesson in chapter.lessons:
            new_chapter.lessons.append(Lesson(position=lesson.position, title=lesson.title, kind=lesson.kind,
                                              body=lesson.body, media_asset_id=lesson.media_asset_id))
    db.session.add(copy)
    db.session.flush()
    for q in questions_of(course):
        db.session.add(QuizQuestion(course_id=copy.id, position=q.position, kind=q.kind, text=q.text,
                                    options=list(q.options), answer=q.answer, explanation=q.explanation))
    _record(actor, copy, Contribution.CREATED)
    db.session.flush()
    record_event(actor, "course.new_version", copy, code=copy.code, version=copy.version)
    return copy


def import_package_archive(actor: User, archive, *, max_bytes: int, organization: Organization,
                           created_files: list | None = None):
    """A zip package uploaded by a publisher, imported as drafts of ``organization`` that count as
    created by ``actor`` (who therefore may not approve them)."""
    if organization.id not in publisher_orgs(actor) and not actor.has_role(Role.ADMIN):
        raise NotAllowed(_("您不能以该机构的名义导入课程。"))
    result = import_archive(actor, archive, max_bytes=max_bytes, publisher=organization, created_files=created_files)
    for course in result.imported:
        course.created_by_id = actor.id
        _record(actor, course, Contribution.CREATED)
    db.session.flush()
    return result


def review_history(course: Course) -> list[ReviewEvent]:
    return list(db.session.scalars(select(ReviewEvent).where(ReviewEvent.course_id == course.id)
                                   .order_by(ReviewEvent.at, ReviewEvent.id)))


# ---------------------------------------------------------------- lists


def publisher_courses(actor: User) -> list[Course]:
    """The latest version of each course of the actor's organizations."""
    orgs = publisher_orgs(actor)
    latest = (select(Course.code, func.max(Course.version).label("version"))
              .where(Course.publisher_id.in_(orgs)).group_by(Course.code).subquery())
    return list(db.session.scalars(
        select(Course).join(latest, (Course.code == latest.c.code) & (Course.version == latest.c.version))
        .order_by(Course.updated_at.desc(), Course.id.desc())))


def publisher_organizations(actor: User) -> list[Organization]:
    """The organizations the actor publishes for."""
    return list(db.session.scalars(select(Organization).where(Organization.id.in_(publisher_orgs(actor)))))


def organization(organization_id: int | None, *, refusal: str, field: str | None = None) -> Organization:
    """An organization chosen on a form; ``refusal`` says what to do when it does not exist."""
    found = db.session.get(Organization, organization_id) if organization_id else None
    if found is None:
        raise InvalidInput(refusal, field=field)
    return found


def subjects() -> list[Subject]:
    return list(db.session.scalars(select(Subject).order_by(Subject.position)))


def media_assets(organization_ids: list[int]) -> list[MediaAsset]:
    """The media library of these organizations, newest first."""
    return list(db.session.scalars(select(MediaAsset).where(MediaAsset.organization_id.in_(organization_ids))
                                   .order_by(MediaAsset.created_at.desc())))


def review_queue(actor: User) -> list[Course]:
    require_reviewer(actor)
    return list(db.session.scalars(select(Course).where(Course.status == CourseStatus.IN_REVIEW)
                                   .order_by(Course.updated_at)))


def versions_of(course: Course) -> list[Course]:
    return list(db.session.scalars(select(Course).where(Course.code == course.code).order_by(Course.version)))


def course_stats(courses: list[Course]) -> dict[int, dict]:
    """Enrolments and completions (valid credit records) per course version, two grouped queries."""
    ids = [course.id for course in courses]
    enrolments = dict(db.session.execute(select(Enrollment.course_id, func.count())
                                         .where(Enrollment.course_id.in_(ids)).group_by(Enrollment.course_id)).all())
    completions = completions_by_course(ids)
    return {i: {"enrolments": enrolments.get(i, 0), "completions": completions.get(i, 0)} for i in ids}


def set_cover(actor: User, course: Course, stream, *, max_bytes: int = 5 * 1024 * 1024) -> None:
    """A cover picture, checked by decoding it and stored re-encoded as JPEG (nothing of the upload kept)."""
    require_editable(actor, course)
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(_("封面图片不能超过 5 MB。"))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG", "WEBP") or image.width * image.height > 40_000_000:
                raise InvalidInput(_("封面应为 JPG、PNG 或 WebP 图片。"))
            image = image.convert("RGB")
            image.thumbnail((1280, 720))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidInput(_("无法识别该图片，请上传 JPG、PNG 或 WebP 格式的封面。")) from None
    relative = f"covers/{course.id}-{hashlib.sha256(out.getvalue()).hexdigest()[:16]}.jpg"
    media_storage().save(relative, io.BytesIO(out.getvalue()))
    course.cover_path = relative
    _edited(actor, course)
