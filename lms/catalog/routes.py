from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from ..core.replica import reads_from_replica
from ..core.storage import send_stored
from ..extensions import db
from ..notices import services as notices
from . import services
from .models import Category, Course, CourseStatus
from .permissions import can_preview

bp = Blueprint("catalog", __name__)


@bp.get("/")
@reads_from_replica
def home():
    return render_template("catalog/home.html", themes=services.theme_counts(),
                           newest=services.newest_courses(), notices=notices.home_notices(current_user))


@bp.get("/courses")
@reads_from_replica
def catalog():
    subject = request.args.get("subject") or None
    category = request.args.get("category") or None
    if category not in (None, *[c.value for c in Category]):
        category = None
    q = (request.args.get("q") or "").strip()[:100] or None
    page = request.args.get("page", 1, type=int) or 1
    result = services.list_catalog(services.CatalogFilter(subject=subject, category=category, q=q, page=page),
                                   per_page=current_app.config["CATALOG_PAGE_SIZE"])
    return render_template("catalog/catalog.html", result=result, subject=subject, category=category, q=q,
                           subjects=services.theme_counts(), categories=Category.labels())


@bp.get("/courses/<code>")
@reads_from_replica
def course(code: str):
    course = services.get_published_course(code)
    return render_template("catalog/course.html", course=course)


@bp.get("/courses/<int:course_id>/cover.jpg")
def cover(course_id: int):
    """Covers of published courses are public; drafts' only to those who may edit or review them."""
    course = db.session.get(Course, course_id)
    if course is None or not course.cover_path:
        abort(404)
    if course.status != CourseStatus.PUBLISHED and not can_preview(current_user, course):
        abort(404)
    return send_stored(course.cover_path, mimetype="image/jpeg", max_age=3600)
