from flask import Blueprint, current_app, jsonify, request

from ..core.web import public_url
from . import services, tasks
from .routes import parse_search_args

bp = Blueprint("search_api", __name__, url_prefix="/api/v1")


@bp.get("/search")
def search():
    q, filters, sort, page = parse_search_args(request.args)
    try:
        result = tasks.search(q, filters, sort, page, per_page=current_app.config["LMS_SEARCH_PAGE_SIZE"])
    except services.SearchUnavailable as exc:
        return jsonify(error={"code": exc.code, "message": exc.message}), exc.status, {"Retry-After": "60"}
    return jsonify(
        query=result.query, filters=result.filters.as_dict(), sort=result.sort, page=result.page,
        pages=result.pages, per_page=result.per_page, total=result.total,
        hits=[{
            "code": hit.code, "title": hit.title, "url": public_url("catalog.course", code=hit.code),
            "subject": {"code": hit.subject_code, "name": hit.subject_name},
            "category": {"code": hit.category, "name": hit.category_label},
            "credit_hours": str(hit.credit_hours), "publisher": hit.publisher,
            "published_at": hit.published_at.isoformat() + "Z" if hit.published_at else None,
            "highlights": {"title": str(hit.title_html), "snippet": str(hit.snippet_html)},
            "score": round(hit.score, 4),
        } for hit in result.hits],
        facets={name: [{"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
                       for v in values] for name, values in result.facets.items()},
        suggestions=result.suggestions, unfiltered_total=result.unfiltered_total,
        partial=result.partial,  # no course has every word: these have most of them
    )
