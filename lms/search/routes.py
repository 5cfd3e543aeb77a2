from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.models import Role
from ..core.enums import N_
from ..core.errors import InvalidInput
from ..core.forms import run_action, run_form
from ..core.replica import reads_from_replica
from ..core.web import RowIdConverter, roles_required
from . import services, tasks, terms
from .forms import DeleteTermForm, SearchTermForm

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
@reads_from_replica
def search_page():
    q, filters, sort, page = parse_search_args(request.args)
    try:
        result = tasks.search(q, filters, sort, page, per_page=current_app.config["LMS_SEARCH_PAGE_SIZE"])
    except services.SearchUnavailable as exc:
        # 503 with a page that says why and points to the catalog, which does not need the index.
        return render_template("search/unavailable.html", query=q, message=exc.message), 503, {"Retry-After": "60"}
    return render_template("search/results.html", result=result,
                           sorts={key: _(label) for key, label in services.SORTS.items()},
                           facet_titles={name: _(title) for name, title in FACET_TITLES.items()})


@bp.get("/search/suggest")
@reads_from_replica
def suggest():
    """What the search boxes offer while one types (JSON): dictionary terms and course titles."""
    try:
        found = services.suggest_completions(request.args.get("q") or "")
    except services.SearchUnavailable:
        found = []  # suggestions are a convenience; the search page explains an unavailable index
    return jsonify(suggestions=found)


FACET_TITLES = {"subject": N_("科目主题"), "category": N_("科目类别"), "hours": N_("学时"), "publisher": N_("发布机构")}


# ---------------------------------------------------------------- admin: the search dictionary

@bp.route("/admin/search/terms", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def search_terms():
    form = SearchTermForm()
    editing = terms.term_for_editing(_int(request.args.get("edit"))) if request.method == "GET" else None
    if editing is not None:
        form.term_id.data, form.term.data, form.synonyms.data = editing
    saved = run_form(form, lambda: terms.save_term(current_user, _int(form.term_id.data), form.term.data,
                                                   form.synonyms.data or ""))
    if saved:
        flash(_("已保存“%(term)s”。索引将按新词典在后台重建，几分钟内生效。", term=saved.value.term), "success")
        return redirect(url_for("search.search_terms"))
    return render_template("search/admin_terms.html", form=form, terms=terms.all_terms(),
                           dictionary=terms.current_dictionary(), delete_form=DeleteTermForm()), saved.status


@bp.post("/admin/search/terms/delete")
@roles_required(Role.ADMIN)
def delete_search_term():
    form = DeleteTermForm()
    term_id = _int(form.term_id.data) if form.validate_on_submit() else None
    return run_action(lambda: terms.delete_term(current_user, term_id or 0),
                      _("已删除。索引将按新词典在后台重建。"), url_for("search.search_terms"))


def _int(value) -> int | None:
    """A row id sent in a form: None when blank; 0 (no row has it) when not a number or beyond what
    the database keeps, so the service answers as for any unknown id."""
    if not value:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 < number <= RowIdConverter.MAX_ROW_ID else 0
