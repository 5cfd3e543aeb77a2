"""Catalog operations. Services flush; the caller commits."""

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.models import Organization, OrgKind, User
from ..accounts.services import get_or_create_organization
from ..assessment.models import QuizQuestion
from ..core import signals
from ..core.audit import record_event
from ..core.clock import utcnow_naive
from ..core.errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..media import services as media
from .archives import export_package, unpack, zip_folder
from .models import Category, Chapter, Course, CourseStatus, Domain, Lesson, LessonKind, Subject
from .packages import CoursePackage, PackageError, Problem, find_package_dirs, load_package

log = logging.getLogger(__name__)

# (code, name, is one of the plan's four themes)
SUBJECTS = [
    ("digital", "数字技术", True), ("ip", "知识产权", True), ("cybersecurity", "网络安全", True),
    ("emergency", "应急管理", True), ("politics", "思想政治", False), ("law", "法律法规", False),
    ("science", "科学精神", False), ("ethics", "职业道德", False), ("teamwork", "团队合作", False),
    ("health", "心理健康", False), ("rural", "乡村振兴", False), ("green", "绿色发展", False),
]


# The plan's domain of each subject that has one of its own; every other subject counts as 其他.
SUBJECT_DOMAINS = {"digital": Domain.DIGITAL, "ip": Domain.IP, "cybersecurity": Domain.CYBERSECURITY,
                   "emergency": Domain.EMERGENCY, "rural": Domain.RURAL, "green": Domain.GREEN}


def ensure_subjects() -> int:
    existing = set(db.session.scalars(select(Subject.code)))
    added = [Subject(code=code, name=name, is_theme=theme, position=i,
                     domain=SUBJECT_DOMAINS.get(code, Domain.OTHER))
             for i, (code, name, theme) in enumerate(SUBJECTS) if code not in existing]
    db.session.add_all(added)
    db.session.flush()
    return len(added)


def subject_names() -> set[str]:
    return set(db.session.scalars(select(Subject.name)))


# ---------------------------------------------------------------- reading the catalog

@dataclass(frozen=True)
class CatalogFilter:
    subject: str | None = None  # Subject.code
    category: str | None = None  # Category value
    q: str | None = None  # words that must appear in the title, summary or tags
    page: int = 1


@dataclass(frozen=True)
class CatalogPage:
    courses: list[Course]
    total: int
    page: int
    pages: int


def published_courses():
    return select(Course).where(Course.status == CourseStatus.PUBLISHED)


def list_catalog(filters: CatalogFilter, *, per_page: int) -> CatalogPage:
    query = published_courses()
    if filters.subject:
        query = query.join(Subject).where(Subject.code == filters.subject)
    if filters.category:
        query = query.where(Course.category == filters.category)
    for word in (filters.q or "").split()[:5]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(column.ilike(pattern, escape="\\")
                                  for column in (Course.title, Course.summary, cast(Course.tags, String)))))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, filters.page), pages)
    courses = db.session.scalars(
        query.options(selectinload(Course.subject), selectinload(Course.publisher))
        .order_by(Course.published_at.desc(), Course.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return CatalogPage(courses=courses, total=total, page=page, pages=pages)


def newest_courses(limit: int = 6) -> list[Course]:
    return db.session.scalars(
        published_courses().options(selectinload(Course.subject), selectinload(Course.publisher))
        .order_by(Course.published_at.desc(), Course.id.desc()).limit(limit)
    ).all()


def theme_counts() -> list[tuple[Subject, int]]:
    rows = db.session.execute(
        select(Subject, func.count(Course.id))
        .outerjoin(Course, (Course.subject_id == Subject.id) & (Course.status == CourseStatus.PUBLISHED))
        .group_by(Subject.id).order_by(Subject.position)
    ).all()
    return [(subject, count) for subject, count in rows]


def get_published_course(code: str) -> Course:
    """The published version of a course, with its outline loaded."""
    course = db.session.scalar(
        published_courses().where(Course.code == code)
        .options(selectinload(Course.chapters).selectinload(Chapter.lessons).selectinload(Lesson.media_asset))
    )
    if course is None:
        raise NotFound(_("课程不存在或尚未发布。请从课程目录中查找。"))
    return course


# ---------------------------------------------------------------- importing packages

@dataclass(frozen=True)
class ImportResult:
    imported: list[Course]
    skipped: list[str]


def load_packages(paths: list[Path]) -> list[CoursePackage]:
    """Validate every package first; raise PackageError with all problems of all packages."""
    subjects = subject_names()
    packages, problems = [], []
    dirs = find_package_dirs(paths)
    if not dirs:
        raise InvalidInput(_("没有找到课程包（含 course.yaml 的文件夹）。"))
    for path in dirs:
        try:
            packages.append(load_package(path, subjects=subjects))
        except PackageError as exc:
            problems.extend(exc.problems)
    codes = [p.code for p in packages]
    for code in {c for c in codes if codes.count(c) > 1}:
        problems.append(Problem(code, "code", _("同一批导入中出现了重复的课程编号")))
    if problems:
        raise PackageError(problems)
    return packages


def import_packages(actor: User | None, packages: list[CoursePackage], *, publish: bool = True,
                    skip_existing: bool = False, created_files: list[Path] | None = None,
                    progress=None, publisher: Organization | None = None, next_version: bool = False) -> ImportResult:
    """Write validated packages. Media files created are listed in ``created_files`` for clean-up
    should the caller's transaction fail. ``publisher`` overrides the organization a package names
    (a publisher uploading a package publishes it as their own organization). ``next_version``: a
    package whose code exists becomes that course's next version (a subscribed feed's update)
    instead of a conflict."""
    created_files = created_files if created_files is not None else []
    subjects = {s.name: s for s in db.session.scalars(select(Subject))}
    imported, skipped = [], []
    for package in packages:
        latest = db.session.scalar(select(func.max(Course.version)).where(Course.code == package.code))
        if latest is not None and not next_version:
            if skip_existing:
                skipped.append(package.code)
                continue
            raise Conflict(_("课程编号 %(code)s 已存在。更新已发布的课程请创建新版本，或换用新的课程编号。",
                             code=package.code), field="code")
        imported.append(_import_one(actor, package, subjects[package.subject], publish, created_files, progress,
                                    publisher, version=(latest or 0) + 1))
    return ImportResult(imported=imported, skipped=skipped)


def _import_one(actor, package: CoursePackage, subject: Subject, publish: bool, created_files, progress,
                publisher: Organization | None, *, version: int = 1) -> Course:
    publisher = publisher or get_or_create_organization(package.publisher_name, OrgKind.PUBLISHER,
                                                        credit_code=package.publisher_credit_code)
    now = utcnow_naive()
    course = Course(
        code=package.code, version=version, title=package.title, subject=subject,
        category=Category.from_label(package.category).value, credit_hours=package.credit_hours,
        publisher=publisher, status=CourseStatus.PUBLISHED if publish else CourseStatus.DRAFT,
        summary=package.summary, syllabus=package.syllabus, tags=package.tags, pass_score=package.pass_score,
        exam_attempt_size=package.exam_attempt_size, published_at=now if publish else None,
    )
    db.session.add(course)
    for ci, chapter_spec in enumerate(package.chapters, start=1):
        chapter = Chapter(position=ci, title=chapter_spec.title)
        course.chapters.append(chapter)
        for li, spec in enumerate(chapter_spec.lessons, start=1):
            lesson = Lesson(position=li, title=spec.title, kind=spec.kind, body=spec.body)
            chapter.lessons.append(lesson)
            if spec.kind == LessonKind.VIDEO:
                lesson.media_asset = _lesson_video(package, chapter_spec.title, spec, publisher, created_files)
                if progress:
                    progress(f"{package.code} · {spec.title}")
    db.session.flush()
    for qi, q in enumerate(package.questions, start=1):
        db.session.add(QuizQuestion(course_id=course.id, position=qi, kind=q.kind, text=q.text, options=q.options,
                                    answer=q.answer, explanation=q.explanation))
    db.session.flush()
    record_event(actor, "course.imported", course, code=course.code, version=course.version)
    signals.course_imported.send(current_app._get_current_object(), course=course)
    if publish:
        signals.course_published.send(current_app._get_current_object(), course=course)
    return course


def _lesson_video(package: CoursePackage, chapter_title: str, spec, publisher: Organization, created_files):
    if spec.video is not None:
        return media.store_video(spec.video, original_name=spec.video.name, organization=publisher,
                                 created_files=created_files)
    # No video in the package: a generated title card, cached by its content.
    key = hashlib.sha256(f"{package.title}|{spec.title}|{spec.demo_seconds}|v3".encode()).hexdigest()[:24]
    clip = media.demo_cache_dir() / f"{key}.mp4"
    if not clip.exists():
        media.generate_demo_video(clip, title=spec.title, subtitle=f"《{package.title}》· {chapter_title}",
                                  seconds=spec.demo_seconds)
        created_files.append(clip)
    return media.store_video(clip, original_name=f"{package.code}-{key[:8]}.mp4", organization=publisher,
                             created_files=created_files)


def import_archive(actor: User | None, archive: Path, *, max_bytes: int, publish: bool = False,
                   publisher: Organization | None = None, created_files: list[Path] | None = None) -> ImportResult:
    """Unpack a zip of one or more packages into a scratch folder, validate, and import."""

    with tempfile.TemporaryDirectory(prefix="package-") as scratch:
        root = unpack(archive, Path(scratch), max_bytes=max_bytes)
        dirs = [p.parent for p in root.rglob("course.yaml")]
        if not dirs:
            raise InvalidInput(_("压缩包中没有找到课程包（含 course.yaml 的文件夹）。"))
        packages = load_packages(dirs)
        return import_packages(actor, packages, publish=publish, publisher=publisher, created_files=created_files)


def export_archive(course: Course, target: Path) -> Path:
    """``course`` as a zip package at ``target``."""

    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        return zip_folder(export_package(course, Path(scratch)), target)
