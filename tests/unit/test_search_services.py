"""Search services over the demo catalog: facets, filters, sorting, paging, highlights, suggestions,
rebuilds; and the index following courses as they are published, retired or left in draft."""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from whoosh.filedb.filestore import FileStorage

from lms.core.errors import InvalidInput
from lms.search import services
from lms.search.services import SearchFilters


def test_empty_query_lists_every_published_course_newest_first(demo_index):
    result = services.search("", index_dir=demo_index)
    assert result.total == 8
    dates = [hit.published_at for hit in result.hits]
    assert dates == sorted(dates, reverse=True)


def test_facets_count_subjects_categories_hours_and_publishers(demo_index):
    result = services.search("", index_dir=demo_index)
    subjects = {v.label: v.count for v in result.facets["subject"]}
    assert subjects == {"数字技术": 2, "知识产权": 2, "网络安全": 2, "应急管理": 2}
    assert {v.value: v.count for v in result.facets["category"]} == {"public": 8}
    assert {v.value: v.count for v in result.facets["hours"]} == {"1to2": 2, "2to4": 6}
    assert [(v.label, v.count) for v in result.facets["publisher"]] == [("公需课程资源中心", 8)]


def test_filters_narrow_the_results_and_mark_the_selected_value(demo_index):
    result = services.search("安全", SearchFilters(subject="emergency"), index_dir=demo_index)
    assert {hit.code for hit in result.hits} <= {"GX-EM-001", "GX-EM-002"} and result.total >= 1
    assert [v.value for v in result.facets["subject"] if v.selected] == ["emergency"]
    short = services.search("", SearchFilters(hours="1to2"), index_dir=demo_index)
    assert {hit.code for hit in short.hits} == {"GX-EM-002", "GX-IP-002"}


def test_sorting_by_hours_and_newest(demo_index):
    by_hours = services.search("", sort="hours", index_dir=demo_index)
    hours = [hit.credit_hours for hit in by_hours.hits]
    assert hours == sorted(hours, reverse=True) and hours[-1] == Decimal("1.5")
    newest = services.search("安全", sort="newest", index_dir=demo_index)
    dates = [hit.published_at for hit in newest.hits]
    assert dates == sorted(dates, reverse=True)


def test_pages_split_the_results_and_a_page_past_the_end_shows_the_last(demo_index):
    first = services.search("", page=1, per_page=3, index_dir=demo_index)
    third = services.search("", page=3, per_page=3, index_dir=demo_index)
    assert (first.pages, len(first.hits), len(third.hits)) == (3, 3, 2)
    assert not {h.code for h in first.hits} & {h.code for h in third.hits}
    assert services.search("", page=9, per_page=3, index_dir=demo_index).page == 3


def test_matches_are_highlighted_and_everything_else_escaped(demo_index, demo_documents):
    hit = services.search("个人信息", index_dir=demo_index).hits[0]
    assert hit.code == "GX-NS-002"
    assert "<mark>" in hit.title_html and "<mark>" in hit.snippet_html
    hostile = replace(demo_documents[0], code="X-1", title="<script>alert(1)</script>网络安全课",
                      summary="<b>网络安全</b> & <img src=x onerror=alert(1)>")
    services.index_course(hostile, index_dir=demo_index)
    try:
        hit = next(h for h in services.search("网络安全", index_dir=demo_index).hits if h.code == "X-1")
        html = str(hit.title_html) + str(hit.snippet_html)
        assert "<script>" not in html and "<b>" not in html and "<img" not in html
        assert "&lt;script&gt;" in html and "<mark>网络安全</mark>" in html
    finally:
        services.remove_course("X-1", index_dir=demo_index)


def test_no_results_come_with_suggestions(demo_index):
    result = services.search("烘焙蛋糕", index_dir=demo_index)
    assert result.total == 0 and result.hits == []
    assert result.suggestions and set(result.suggestions) & {"数字技术", "知识产权", "网络安全", "应急管理"}
    # A misspelt English term still finds what it meant (one edit away from a word in the index).
    assert services.search("GDPP", index_dir=demo_index).hits[0].code == "GX-NS-002"
    # A query with a word found nowhere suggests the query without it.
    assert "网络安全法" in services.search("网络安全法 烘焙", index_dir=demo_index).suggestions
    # Filters that hide every match say how many there are without them.
    filtered = services.search("专利", SearchFilters(subject="emergency"), index_dir=demo_index)
    assert filtered.total == 0 and filtered.unfiltered_total == 2


def test_query_syntax_typed_by_a_learner_is_searched_as_words(demo_index):
    for text in ('"网络安全"', "title:专利", "专利 AND", "(AI)", "*", "NOT 专利", "C++"):
        services.search(text, index_dir=demo_index)  # no parser errors
    assert services.search('"网络安全法"', index_dir=demo_index).hits[0].code == "GX-NS-001"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"query": "很长" * 60}, "q"), ({"sort": "price"}, "sort"), ({"page": 0}, "page"),
    ({"filters": SearchFilters(category="vip")}, "category"), ({"filters": SearchFilters(hours="9")}, "hours"),
])
def test_bad_input_is_a_clear_domain_error(demo_index, kwargs, field):
    args = {"query": "专利", **kwargs}
    with pytest.raises(InvalidInput) as exc:
        services.search(index_dir=demo_index, **args)
    assert exc.value.field == field and exc.value.message


def test_rebuild_swaps_in_a_fresh_directory_while_searches_go_on(tmp_path, demo_documents):
    live = tmp_path / "search-index"
    services.rebuild_index(demo_documents[:2], index_dir=live)
    first = live.resolve()
    assert live.is_symlink() and services.search("", index_dir=live).total == 2
    services.rebuild_index(demo_documents, index_dir=live)
    second = live.resolve()
    assert second != first and services.search("", index_dir=live).total == 8
    services.rebuild_index(demo_documents[:3], index_dir=live)
    # The generation before the live one is kept for searches still reading it; older ones go.
    assert not first.exists() and second.exists()
    assert services.search("", index_dir=live).total == 3


def test_a_failed_rebuild_leaves_the_live_index_alone(tmp_path, demo_documents):
    live = tmp_path / "search-index"
    services.rebuild_index(demo_documents, index_dir=live)

    def broken():
        yield demo_documents[0]
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        services.rebuild_index(broken(), index_dir=live)
    assert services.search("", index_dir=live).total == 8
    assert len(list(tmp_path.glob("search-index.*"))) == 1


# ---------------------------------------------------------------- following the catalog

def test_published_courses_of_the_test_catalog_are_indexed(app):
    with app.app_context():
        assert {"GX-NS-001", "GX-DT-002"} <= services.indexed_codes()


def test_retiring_a_course_removes_it_and_publishing_brings_it_back(app, db_session, ctx):
    from lms.catalog.models import Course, CourseStatus
    from lms.core import signals

    course = db_session.query(Course).filter_by(code="GX-DT-002").one()
    course.status = CourseStatus.RETIRED
    signals.course_retired.send(app, course=course)
    db_session.commit()
    assert "GX-DT-002" not in {h.code for h in services.search("人工智能").hits}
    course.status = CourseStatus.PUBLISHED
    signals.course_published.send(app, course=course)
    db_session.commit()
    assert services.search("人工智能").hits[0].code == "GX-DT-002"


def test_a_rolled_back_publication_is_never_indexed(app, db_session, ctx):
    from lms.catalog.models import Course, CourseStatus
    from lms.core import signals

    course = db_session.query(Course).filter_by(code="GX-NS-001").one()
    clone = Course(code="T-ROLLBACK", version=1, title="回滚的量子课程", subject=course.subject,
                   category="public", credit_hours=Decimal("1"), publisher=course.publisher,
                   status=CourseStatus.PUBLISHED, published_at=datetime(2026, 1, 1))
    db_session.add(clone)
    db_session.flush()
    signals.course_published.send(app, course=clone)
    db_session.rollback()
    db_session.commit()
    assert services.search("量子").total == 0


def test_draft_imports_are_not_found(app, db_session, ctx):
    from lms.catalog.services import import_packages, load_packages
    from tests.conftest import ROOT

    import_packages(None, load_packages([ROOT / "courses" / "GX-IP-002"]), publish=False)
    db_session.commit()
    assert "GX-IP-002" not in services.indexed_codes()
    assert "GX-IP-002" not in {hit.code for hit in services.search("商标注册").hits}


def test_files_of_failed_read_attempts_are_closed_when_a_later_attempt_succeeds(tmp_path, demo_documents,
                                                                               monkeypatch):
    """A damaged segment makes the reader retry; a rebuild swapped in meanwhile makes a later attempt
    succeed. The damaged generation's files opened by the attempts before it are all closed."""
    import hashlib
    import os

    from lms.search import engine

    live, other = tmp_path / "search-index", tmp_path / "other"
    services.rebuild_index(demo_documents[:2], index_dir=live)
    services.rebuild_index(demo_documents[:3], index_dir=other)
    damaged = live.resolve()
    for n, segment in enumerate(damaged.glob("*.seg")):
        segment.write_bytes(hashlib.sha512(str(n).encode()).digest() * (1 + segment.stat().st_size // 64))
    opened, waits = [], []
    open_file = FileStorage.open_file

    def recording_open_file(storage, name, **kwargs):
        opened.append((name, open_file(storage, name, **kwargs)))
        return opened[-1][1]

    def sleep(seconds):  # the third retry finds the rebuilt generation in place
        waits.append(seconds)
        if len(waits) == 3:
            swap = tmp_path / "swap"
            swap.symlink_to(other.resolve())
            os.replace(swap, live)

    monkeypatch.setattr(FileStorage, "open_file", recording_open_file)
    monkeypatch.setattr(engine, "_pause", sleep)
    assert services.search("", index_dir=live).total == 3  # the rebuilt generation answers
    assert len(waits) == 3
    segments = [(name, f) for name, f in opened if name.endswith(".seg")]
    assert len(segments) == 4  # three damaged, one good (mapped into memory, its file closed too)
    assert all(f.is_closed and f.file.closed for _, f in segments), segments


def test_filter_values_no_course_has_are_not_kept(demo_index):
    from lms.search import engine

    services.search("网络安全", index_dir=demo_index)
    snap = engine.snapshot(demo_index)
    before = dict(snap.filters)
    for n in range(50):
        result = services.search("网络安全", services.SearchFilters(publisher=f"不存在的机构{n}" * 50,
                                                                  subject=f"nosuch{n}"), index_dir=demo_index)
        assert result.total == 0 and result.unfiltered_total
    assert snap.filters == before


def test_suggestions_offer_only_dictionary_terms_that_find_a_course(demo_index):
    offered = [s["text"] for s in services.suggest_completions("碳", index_dir=demo_index)]
    assert all(services.search(text, index_dir=demo_index).total for text in offered)
    assert "碳达峰" not in offered


def test_suggestions_read_the_prefix_as_searches_do(demo_index):
    plain = services.suggest_completions("网络", index_dir=demo_index)
    assert plain and services.suggest_completions("\u200b网络\x00", index_dir=demo_index) == plain


def test_an_unavailable_index_keeps_its_reason_for_the_log():
    assert services.SearchUnavailable("the index folder is missing").reason == "the index folder is missing"


def test_posting_lists_read_a_block_at_a_time_equal_whooshs_own_reading(demo_documents, tmp_path):
    """Over several segments and deleted documents (an update adds a segment and deletes the old copy)."""
    from dataclasses import replace

    from lms.search import engine

    path = tmp_path / "search-index"
    generated = [replace(doc, code=f"{doc.code}-{n}") for n in range(20) for doc in demo_documents]  # 160: blocks
    services.rebuild_index(generated, index_dir=path)
    services.index_courses([replace(generated[3], title="已更新的课程标题 个人信息")], index_dir=path)
    services.remove_course(generated[5].code, index_dir=path)
    engine.close_all()
    snap = engine.snapshot(path)
    reader = snap.reader
    assert len(list(reader.leaf_readers())) > 1 and reader.has_deletions()
    for fieldname, term in (("body", "安全"), ("title", "个人信息"), ("keywords", "网络安全"), ("lessons", "数据"),
                            ("body", "个人"), ("summary", "保护")):
        expected, positions = {}, {}
        m = reader.postings(fieldname, term)
        while m.is_active():
            expected[m.id()] = m.weight()
            positions[m.id()] = frozenset(m.value_as("positions"))
            m.next()
        assert expected and snap.posting(fieldname, term) == expected, (fieldname, term)
        some = sorted(expected)[::3]
        assert snap.positions(fieldname, term, some) == {d: positions[d] for d in some}, (fieldname, term)
    engine.close_all()
