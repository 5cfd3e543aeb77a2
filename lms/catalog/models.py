from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization
from ..core.clock import utcnow_naive
from ..core.enums import N_, LabelledEnum
from ..extensions import db


class Category(LabelledEnum):
    PUBLIC = "public", N_("公需")
    PROFESSIONAL = "professional", N_("专业")
    ELECTIVE = "elective", N_("选修")


# The categories' fixed Chinese wording (source labels, plain strings), as course packages and HR
# exports write them. On screen use ``Category.label`` / ``Category.labels()``.
CATEGORY_LABELS = {category: category.source_label for category in Category}


class CourseStatus(LabelledEnum):
    DRAFT = "draft", N_("草稿")
    IN_REVIEW = "in_review", N_("审核中")
    REJECTED = "rejected", N_("已退回")
    PUBLISHED = "published", N_("已发布")
    RETIRED = "retired", N_("已下线")

    @property
    def editable(self) -> bool:
        return self in (CourseStatus.DRAFT, CourseStatus.REJECTED)


class LessonKind(LabelledEnum):
    VIDEO = "video", N_("视频")
    READING = "reading", N_("图文")
    QUIZ = "quiz", N_("测验")


class Domain(LabelledEnum):
    """The fields (领域) of the Knowledge Update plan's attachment table, in its column order
    (seed/plan_2022_targets.csv): a plan's targets are per department × domain, and a course counts
    toward the domain of its subject (``Subject.domain``; 其他 unless mapped)."""

    NEW_IT = "new_it", N_("新一代信息技术")
    BIOTECH = "biotech", N_("生物技术")
    NEW_ENERGY = "new_energy", N_("新能源")
    NEW_MATERIALS = "new_materials", N_("新材料")
    EQUIPMENT = "equipment", N_("高端装备")
    NEV = "nev", N_("新能源汽车")
    GREEN = "green", N_("绿色环保")
    AEROSPACE = "aerospace", N_("航空航天")
    MARINE = "marine", N_("海洋装备")
    DIGITAL = "digital", N_("数字技术")
    IP = "ip", N_("知识产权")
    CYBERSECURITY = "cybersecurity", N_("网络安全")
    EMERGENCY = "emergency", N_("应急管理")
    RURAL = "rural", N_("乡村振兴")
    OTHER = "other", N_("其他")


class Subject(db.Model):
    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    is_theme: Mapped[bool] = mapped_column(default=False)  # the plan's four public-subject themes
    position: Mapped[int] = mapped_column(default=0)
    # The plan's domain its courses count toward (a Domain value).
    domain: Mapped[str] = mapped_column(String(16), default=Domain.OTHER, server_default=Domain.OTHER)


class Course(db.Model):
    """One version of a course. Published versions are never edited; edits make a new version."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(120))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    category: Mapped[str] = mapped_column(String(16), index=True)
    credit_hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    publisher_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CourseStatus.DRAFT, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    syllabus: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    pass_score: Mapped[int | None]  # None: no final exam
    exam_attempt_size: Mapped[int | None]  # questions drawn from the pool per exam attempt; None: the whole pool
    cover_path: Mapped[str | None] = mapped_column(String(512))  # relative to LMS_MEDIA_ROOT
    created_at: Mapped[datetime] = mapped_column(default=utcnow_naive)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_naive, onupdate=utcnow_naive)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # Separation of duties (lms.core.duties): who made this version (None: an import without a
    # person, e.g. the CLI) and who approved it. Everyone who edited it: publishing.models.CourseEditor.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    subject: Mapped[Subject] = relationship()
    publisher: Mapped[Organization] = relationship()
    chapters: Mapped[list["Chapter"]] = relationship(
        back_populates="course", order_by="Chapter.position", cascade="all, delete-orphan"
    )

    @property
    def category_label(self) -> str:
        return Category(self.category).label

    @property
    def status_label(self) -> str:
        return CourseStatus(self.status).label

    @property
    def lessons(self) -> list["Lesson"]:
        return [lesson for chapter in self.chapters for lesson in chapter.lessons]


class Chapter(db.Model):
    __tablename__ = "chapter"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(120))

    course: Mapped[Course] = relationship(back_populates="chapters")
    lessons: Mapped[list["Lesson"]] = relationship(
        back_populates="chapter", order_by="Lesson.position", cascade="all, delete-orphan"
    )


class Lesson(db.Model):
    __tablename__ = "lesson"

    id: Mapped[int] = mapped_column(primary_key=True)
    chapter_id: Mapped[int] = mapped_column(ForeignKey("chapter.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, no raw HTML
    media_asset_id: Mapped[int | None] = mapped_column(ForeignKey("media_asset.id"))

    chapter: Mapped[Chapter] = relationship(back_populates="lessons")
    media_asset: Mapped["MediaAsset | None"] = relationship()  # noqa: F821

    @property
    def kind_label(self) -> str:
        return LessonKind(self.kind).label

    @property
    def duration_seconds(self) -> int | None:
        return self.media_asset.duration_seconds if self.media_asset else None
