"""Who may do what with a course, asked by every package that shows or changes courses (the catalog's
pages, publishing, the media library): one place, beside the model."""

from sqlalchemy import select

from ..accounts.models import Role, User
from ..extensions import db
from ..media import permissions as media_permissions
from .models import Chapter, Course, CourseStatus, Lesson


def publisher_orgs(actor: User) -> list[int]:
    """The organizations for which ``actor`` publishes courses."""
    return [g.organization_id for g in actor.grants_for(Role.PUBLISHER)]


def can_edit(actor: User, course: Course) -> bool:
    """Admins, and the publishers of the course's organization."""
    return actor.has_role(Role.ADMIN) or course.publisher_id in publisher_orgs(actor)


def can_preview(actor, course: Course) -> bool:
    """Whether ``actor`` may see a course that is not published (its cover, say): its editors and reviewers."""
    return bool(actor is not None and getattr(actor, "is_authenticated", False)
                and (can_edit(actor, course) or actor.has_role(Role.REVIEWER)))


@media_permissions.public_when
def used_by_published_lesson(asset_id: int) -> bool:
    """A media file of a published course's lesson is open to every signed-in user."""
    return db.session.scalar(
        select(Lesson.id).join(Chapter).join(Course)
        .where(Lesson.media_asset_id == asset_id, Course.status == CourseStatus.PUBLISHED).limit(1)
    ) is not None
