"""From catalog courses to search documents: the one place search reads the catalog's models."""

from collections.abc import Iterator

from sqlalchemy.orm import selectinload

from ..catalog.models import Chapter, Course, CourseStatus
from ..catalog.services import published_courses
from ..extensions import db
from .services import CourseDocument


def course_document(course: Course) -> CourseDocument:
    return CourseDocument(
        code=course.code, title=course.title, summary=course.summary or "", syllabus=course.syllabus or "",
        lessons=tuple(lesson.title for lesson in course.lessons), tags=tuple(course.tags or ()),
        publisher=course.publisher.name, subject_code=course.subject.code, subject_name=course.subject.name,
        category=course.category, credit_hours=course.credit_hours, published_at=course.published_at,
        lesson_text="\n".join(lesson.body or "" for lesson in course.lessons),
    )


def is_searchable(course: Course) -> bool:
    return course.status == CourseStatus.PUBLISHED


def published_documents(batch: int = 500, *, session=None) -> Iterator[CourseDocument]:
    """Every published course, read in batches so memory stays flat on a large catalog (through
    ``session``, by default the app's)."""
    session = session if session is not None else db.session
    query = published_courses().options(
        selectinload(Course.subject), selectinload(Course.publisher),
        selectinload(Course.chapters).selectinload(Chapter.lessons),
    ).order_by(Course.id)
    last_id = 0
    while True:
        courses = session.scalars(query.where(Course.id > last_id).limit(batch)).all()
        if not courses:
            return
        for course in courses:
            yield course_document(course)
        last_id = courses[-1].id
        session.expunge_all()
