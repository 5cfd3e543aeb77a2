from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from ..core.enums import N_
from ..core.errors import InvalidInput
from . import services, tasks

bp = Blueprint("search", __name__)


def parse_search_args(args) -> tuple[str, services.SearchFilters, str, int]:
    """The request's search parameters, shared by the page and the JSON API."""
    try:
        page = int(args.get("page") or 1)
    except ValueError:
        raise InvalidInput(_("页码应为正整数。"), field="page") from None
    filters = services.SearchFilters(**{name: (args.get(name) or "").strip() or None for name in services.FACETS})
    return args.get("q") or "", filters, args.get("sort") or "relevance", page


@bp.get("/search")
def search_page():
    q, filters, sort, page = parse_search_args(request.args)
    try:
        result = tasks.search(q, filters, sort, page, per_page=current_app.config["LMS_SEARCH_PAGE_SIZE"])
    except services.SearchUnavailable as exc:
        # A page that works (200), says why and points to the catalog, which does not need the index.
        return render_template("search/unavailable.html", query=q, message=exc.message)
    return render_template("search/results.html", result=result,
                           sorts={key: _(label) for key, label in services.SORTS.items()},
                           facet_titles={name: _(title) for name, title in FACET_TITLES.items()})


@bp.get("/search/suggest")
def suggest():
    """What the search boxes offer while one types (JSON): dictionary terms and course titles."""
    try:
        found = services.suggest_completions(request.args.get("q") or "")
    except services.SearchUnavailable:
        found = []  # suggestions are a convenience; the search page explains an unavailable index
    return jsonify(suggestions=found)


FACET_TITLES = {"subject": N_("科目主题"), "category": N_("科目类别"), "hours": N_("学时"), "publisher": N_("发布机构")}
