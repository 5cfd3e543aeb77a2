"""Full-text course search: a Whoosh index analysed with jieba.

Models-free: the index is fed :class:`CourseDocument` values (built from courses in
``documents.py``) and answers with :class:`SearchResult`. Writes go through the job queue
(``tasks.py``), the index's only writer; searches open the live index read-only.

Readers never create, repair or delete an index. When the live index is missing (no folder, no
table of contents) or cannot be read (garbage in its files), a search raises
:class:`SearchUnavailable` (搜索暂不可用); the web layer then queues one rebuild for the worker
(``tasks.request_rebuild``). Creating an empty index in a reader would hide every course until
someone noticed, and its swap would delete the real generation.

Layout on disk: ``LMS_SEARCH_INDEX`` (default ``<instance>/search-index``) is a symlink to a
generation directory ``search-index.<n>`` beside it. A rebuild writes a fresh generation and
swaps the link with one ``rename``, so searches keep being served throughout.
"""

import heapq
import logging
import math
import os
import shutil
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup, escape
from whoosh import index
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, SchemaClass
from whoosh.index import LockError

from ..core import health
from ..core.enums import N_
from ..core.errors import DomainError, InvalidInput
from ..core.formatting import typed_text
from . import dictionary as search_dictionary
from . import engine

log = logging.getLogger(__name__)

# Labels are marked for the catalog (N_) and translated where shown (_facet_values, search hits, the page).
CATEGORY_LABELS = {"public": N_("公需"), "professional": N_("专业"), "elective": N_("选修")}
# Credit-hour ranges offered as a facet: (key, label, lower bound inclusive, upper bound exclusive).
HOURS_RANGES = [
    ("lt1", N_("1 学时以下"), Decimal("0"), Decimal("1")),
    ("1to2", N_("1–2 学时"), Decimal("1"), Decimal("2")),
    ("2to4", N_("2–4 学时"), Decimal("2"), Decimal("4")),
    ("ge4", N_("4 学时及以上"), Decimal("4"), None),
]
HOURS_LABELS = {key: label for key, label, _, _ in HOURS_RANGES}
SORTS = {"relevance": N_("相关度"), "newest": N_("最新发布"), "hours": N_("学时从多到少")}
FACETS = ("subject", "category", "hours", "publisher")
MAX_QUERY_LENGTH = 100
MAX_PAGE = 1000

# ---------------------------------------------------------------- jieba, once per process

_jieba_lock = threading.Lock()
_jieba_ready = False


def init_jieba(tmp_dir: str | os.PathLike) -> None:
    """Load jieba's dictionary once per process, caching it in an app-owned folder."""
    global _jieba_ready
    with _jieba_lock:
        if _jieba_ready:
            return
        import jieba  # heavy (~0.6 s, ~60 MiB with its dictionary): loaded by the processes that search

        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
        jieba.setLogLevel(logging.WARNING)
        jieba.dt.tmp_dir = str(tmp_dir)
        jieba.initialize()
        with warnings.catch_warnings():
            # jieba.analyse reads its IDF table with open(...).read() and never closes the file.
            warnings.simplefilter("ignore", ResourceWarning)
            import jieba.analyse  # noqa: F401  (only here, under the filter above: it leaks a file on import)
        _jieba_ready = True


_analyzers: list = []


def _analyzer():
    """jieba's analyser for Whoosh, one per process (it holds no state between calls)."""
    if not _analyzers:
        from jieba.analyse import ChineseAnalyzer  # imported first by init_jieba(), under its warnings filter

        _analyzers.append(ChineseAnalyzer())
    return _analyzers[0]


def make_schema():
    analyzer = _analyzer()

    class CourseSchema(SchemaClass):
        code = ID(stored=True, unique=True)
        title = TEXT(analyzer=analyzer, stored=True)
        title_sort = ID(sortable=True)  # the title as typed: exact matches, suggestions
        pinyin = KEYWORD(lowercase=True, scorable=True)  # full pinyin and initials of the title's words
        pinyin_column = ID(sortable=True)  # the same, per document, for suggestions
        summary = TEXT(analyzer=analyzer, stored=True)
        lessons = TEXT(analyzer=analyzer, stored=True)  # lesson titles
        keywords = TEXT(analyzer=analyzer, stored=True)  # tags and the subject's name
        # Syllabus, the lessons' reading text, publisher: weighted lightly; stored for the snippet of a
        # course that matched there only (compressed on disk; only the page shown reads it).
        body = TEXT(analyzer=analyzer, stored=True)
        # Facets and sort keys.
        subject = ID(stored=True, sortable=True)
        subject_name = ID(stored=True)
        subject_facet = ID(sortable=True)  # "code|name": counted per subject without reading stored fields
        category = ID(stored=True, sortable=True)
        hours = ID(stored=True, sortable=True)
        publisher = ID(stored=True, sortable=True)
        credit_tenths = NUMERIC(stored=True, sortable=True)  # hours × 10, an integer
        published_at = DATETIME(stored=True, sortable=True)

    return CourseSchema()


# ---------------------------------------------------------------- documents and results

@dataclass(frozen=True)
class CourseDocument:
    """What the index knows of one published course."""

    code: str
    title: str
    summary: str
    syllabus: str
    lessons: tuple[str, ...]
    tags: tuple[str, ...]
    publisher: str
    subject_code: str
    subject_name: str
    category: str
    credit_hours: Decimal
    published_at: datetime
    lesson_text: str = ""


@dataclass(frozen=True)
class SearchFilters:
    subject: str | None = None  # Subject.code
    category: str | None = None
    hours: str | None = None  # a HOURS_RANGES key
    publisher: str | None = None  # publisher name

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in FACETS if getattr(self, name)}


@dataclass(frozen=True)
class SearchHit:
    code: str
    title: str
    title_html: Markup  # escaped, with <mark> around matches
    snippet_html: Markup
    subject_code: str
    subject_name: str
    category: str
    category_label: str
    credit_hours: Decimal
    publisher: str
    published_at: datetime | None
    score: float


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class SearchResult:
    query: str
    filters: SearchFilters
    sort: str
    page: int
    pages: int
    per_page: int
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]]
    suggestions: list[str] = field(default_factory=list)  # other queries worth trying
    unfiltered_total: int | None = None  # when filters hid every match: how many without them
    partial: bool = False  # no course has every word of the query: these have most of them


def hours_range(hours: Decimal) -> str:
    for key, _label, low, high in HOURS_RANGES:
        if hours >= low and (high is None or hours < high):
            return key
    return HOURS_RANGES[-1][0]


def _fields(doc: CourseDocument) -> dict:
    pinyin = search_dictionary.pinyin_terms(doc.title)
    return {
        "code": doc.code, "title": doc.title, "title_sort": doc.title, "pinyin": pinyin, "pinyin_column": pinyin, "summary": doc.summary, "lessons": "\n".join(doc.lessons),
        "keywords": " ".join((*doc.tags, doc.subject_name)),
        "body": "\n".join((doc.syllabus, doc.lesson_text, doc.publisher)),
        "subject": doc.subject_code, "subject_name": doc.subject_name, "category": doc.category,
        "subject_facet": f"{doc.subject_code}|{doc.subject_name}",
        "hours": hours_range(doc.credit_hours), "publisher": doc.publisher,
        "credit_tenths": int(doc.credit_hours * 10), "published_at": doc.published_at,
    }


# ---------------------------------------------------------------- the index on disk

class SearchUnavailable(DomainError):
    """The live index is missing or unreadable: search is off until the worker rebuilds it.
    ``reason`` is for the log, the message for the user."""

    status = 503
    code = "search_unavailable"

    def __init__(self, reason: str, *, transient: bool = False):
        super().__init__(_("搜索暂不可用：课程索引正在重建，请过几分钟再试。"
                           "在此期间您仍可以在课程目录中按主题和类别浏览全部课程。"), reason=reason)
        self.transient = transient  # a file vanished mid-read; try again


def _live_path(index_dir: str | os.PathLike | None) -> Path:
    return Path(index_dir or current_app.config["LMS_SEARCH_INDEX"])


def _new_generation(live: Path) -> Path:
    n = time.time_ns()
    path = live.with_name(f"{live.name}.{n}")
    path.mkdir(parents=True)
    return path


def _swap(live: Path, generation: Path) -> None:
    """Point the live link at ``generation`` in one atomic rename; keep one older generation."""
    previous = live.resolve() if live.is_symlink() else None
    if live.exists() and not live.is_symlink():
        # A plain directory from an older layout: move it aside so the link can take its name.
        os.rename(live, live.with_name(f"{live.name}.0"))
        previous = live.with_name(f"{live.name}.0")
    tmp_link = live.with_name(f".{live.name}.link.{os.getpid()}")
    tmp_link.unlink(missing_ok=True)
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, live)
    # Searches that opened the previous generation may still be reading it: keep it, drop older ones.
    for old in live.parent.glob(f"{live.name}.*"):
        if old.is_dir() and old not in (generation, previous):
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def open_for_reading(index_dir=None):
    """The live index as it is on disk, for the block (whose failure closes what it opened);
    SearchUnavailable when there is none. Never creates one."""
    live = _live_path(index_dir)
    if not live.is_dir():
        raise SearchUnavailable(f"the index folder {live} is missing")
    if not index.exists_in(str(live)):
        raise SearchUnavailable(f"the index in {live} has no table of contents")
    with engine.opened_index(live) as ix:
        yield ix


def open_index(index_dir=None, *, create: bool = True):
    """For the worker and tools only (readers use ``open_for_reading``): the live index, created
    empty when there is none and ``create`` is true."""
    live = _live_path(index_dir)
    if live.exists() and index.exists_in(str(live)):
        return index.open_dir(str(live))
    if not create:
        return None
    generation = _new_generation(live)
    index.create_in(str(generation), make_schema())
    _swap(live, generation)
    return index.open_dir(str(live))


WRITE_TIMEOUT = 30.0  # seconds; one writer is the rule, this only covers a stray second one


def index_course(doc: CourseDocument, *, index_dir=None) -> None:
    index_courses([doc], index_dir=index_dir)


def index_courses(docs: Iterable[CourseDocument], *, index_dir=None) -> int:
    """Update the live index in place; SearchUnavailable when it is missing or damaged (the job
    then rebuilds it from the database rather than start an index holding only these courses)."""
    docs = list(docs)

    def write():
        with open_for_reading(index_dir) as ix:
            search_dictionary.apply(search_dictionary.read(Path(os.path.realpath(_live_path(index_dir)))))
            with ix.writer(timeout=WRITE_TIMEOUT) as writer:
                for doc in docs:
                    writer.update_document(**_fields(doc))

    _guarded(write)
    return len(docs)


def remove_course(code: str, *, index_dir=None) -> None:
    def write():
        with open_for_reading(index_dir) as ix, ix.writer(timeout=WRITE_TIMEOUT) as writer:
            writer.delete_by_term("code", code)

    _guarded(write)


def rebuild_index(docs: Iterable[CourseDocument], *, index_dir=None, progress=None,
                  dictionary: search_dictionary.Dictionary | None = None) -> int:
    """Build a fresh index from ``docs`` beside the live one, cut by ``dictionary`` (by default
    the shipped one), then swap it in atomically; the dictionary travels with the generation."""
    live = _live_path(index_dir)
    live.parent.mkdir(parents=True, exist_ok=True)
    generation = _new_generation(live)
    dictionary = dictionary or search_dictionary.DEFAULT
    try:
        search_dictionary.apply(dictionary)
        search_dictionary.write(dictionary, generation)
        ix = index.create_in(str(generation), make_schema())
        n = 0
        with ix.writer(limitmb=256) as writer:
            for doc in docs:
                writer.add_document(**_fields(doc))
                n += 1
                if progress and n % 500 == 0:
                    progress(n)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    _swap(live, generation)
    return n


def indexed_codes(*, index_dir=None) -> set[str]:
    def read():
        snap = _snapshot(index_dir)
        return {snap.searcher.stored_fields(d)["code"] for d in snap.live}

    return _read(read)


# ---------------------------------------------------------------- searching

def _facet_values(name: str, counts: dict, filters: SearchFilters, labels: dict) -> list[FacetValue]:
    selected = getattr(filters, name)
    values = [FacetValue(value=key, label=_(labels[key]) if key in labels else key, count=count, selected=key == selected)
              for key, count in counts.items() if key]
    if name == "hours":
        order = [key for key, *_ in HOURS_RANGES]
        values.sort(key=lambda v: order.index(v.value) if v.value in order else len(order))
    else:
        values.sort(key=lambda v: (-v.count, v.label))
    return values


def validate(query: str, filters: SearchFilters, sort: str, page: int) -> str:
    query = typed_text(query)
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(_("搜索词过长，请控制在 %(MAX_QUERY_LENGTH)s 个字以内。", MAX_QUERY_LENGTH=MAX_QUERY_LENGTH), field="q")
    if sort not in SORTS:
        choices = _("、").join(_("%(k)s（%(v)s）", k=k, v=_(v)) for k, v in SORTS.items())
        raise InvalidInput(_("排序方式无效，可选：%(choices)s。", choices=choices),
                           field="sort")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(_("页码应为 1 到 %(MAX_PAGE)s 之间的整数。", MAX_PAGE=MAX_PAGE), field="page")
    if filters.category and filters.category not in CATEGORY_LABELS:
        raise InvalidInput(_("科目类别无效，可选：public（公需）、professional（专业）、elective（选修）。"),
                           field="category")
    if filters.hours and filters.hours not in HOURS_LABELS:
        raise InvalidInput(_("学时范围无效，可选：%(choices)s。", choices=_("、").join(HOURS_LABELS)), field="hours")
    return query


READ_ATTEMPTS = 5


def search(query: str, filters: SearchFilters | None = None, sort: str = "relevance", page: int = 1, *,
           per_page: int = 10, index_dir=None) -> SearchResult:
    """Published courses matching ``query`` (all of them when empty), filtered, sorted and paged."""
    filters = filters or SearchFilters()
    query = validate(query, filters, sort, page)
    return _read(lambda: _search(query, filters, sort, page, per_page, index_dir))


def _read(fn):
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return _guarded(fn)
        except SearchUnavailable as exc:
            # The writer committed between our listing of the index's files and opening them
            # (Whoosh removes superseded files on commit): read again from the new generation.
            if not exc.transient or attempt == READ_ATTEMPTS:
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def _guarded(fn):
    """``fn()``, with any failure to read the index files turned into SearchUnavailable.

    Garbage in an index file surfaces as almost any exception (OSError, struct.error, EOFError,
    an unpickling error from the table of contents…), so all of them count; a lock held by another
    writer (whoosh LockError) and our own domain errors pass through. The failure is logged as
    one line. The files the failed attempt opened were closed as it failed (engine.opened_index)."""
    try:
        return fn()
    except (DomainError, LockError):
        raise
    except Exception as exc:  # see above
        failure = exc
    reason, transient = f"{type(failure).__name__}: {failure}", isinstance(failure, FileNotFoundError)
    log.warning("search index unreadable: %s", reason)
    del failure
    raise SearchUnavailable(reason, transient=transient)


def _search(query: str, filters: SearchFilters, sort: str, page: int, per_page: int, index_dir) -> SearchResult:
    snap = _snapshot(index_dir)
    analyzer = _analyzer()
    matches = engine.find(snap, analyzer, query) if query else engine.Matches([], set(snap.live))
    docs = matches.docs
    for name, value in filters.as_dict().items():
        column, value = "subject_facet" if name == "subject" else name, _filter_value(snap, name, value)
        # Only values some course has are kept per generation: any other string matches nothing.
        docs = docs & snap.filter_set(column, value) if value in snap.values(column) else set()
    total = len(docs)
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)  # past the end: show the last page rather than nothing
    wanted = page * per_page
    if sort == "relevance" and query:
        ordered = engine.rank(snap, matches, docs, query, wanted)
    elif sort == "hours":
        tenths = snap.column("credit_tenths")
        ordered = heapq.nsmallest(wanted, docs, key=lambda d: (-tenths[d], d))
    else:  # newest, and the relevance of an empty query
        published = snap.column("published_at")
        ordered = heapq.nlargest(wanted, docs, key=lambda d: (published[d] or 0, d))
    mark = engine.marker(matches.words)
    shown = ordered[(page - 1) * per_page:]
    relevance = engine.scores(snap, matches, shown, query) if query else {}
    hits = [_hit(snap, doc, mark, relevance.get(doc, 0.0)) for doc in shown]
    facets = _facets(snap, docs, filters)
    suggestions, unfiltered_total = [], None
    if total == 0:
        suggestions = _suggest(snap, matches, query)
        if filters.as_dict():
            unfiltered_total = len(matches.docs)
    return SearchResult(query=query, filters=filters, sort=sort, page=page, pages=pages, per_page=per_page,
                        total=total, hits=hits, facets=facets, suggestions=suggestions,
                        unfiltered_total=unfiltered_total, partial=matches.partial and total > 0)


def _snapshot(index_dir) -> "engine.Snapshot":
    live = _live_path(index_dir)
    if not live.is_dir():
        raise SearchUnavailable(f"the index folder {live} is missing")
    try:
        return engine.snapshot(live)
    except engine.NoTableOfContents:
        raise SearchUnavailable(f"the index in {live} has no table of contents") from None


def _filter_value(snap, name: str, value: str) -> str:
    if name != "subject":
        return value
    return next((key for key in _subject_names(snap) if key.partition("|")[0] == value), value)


def _subject_names(snap) -> set[str]:
    return snap.values("subject_facet")


def _facets(snap, docs, filters: SearchFilters) -> dict[str, list[FacetValue]]:
    counts = {name: Counter(map(snap.column(name).__getitem__, docs)) for name in engine.FACET_COLUMNS}
    subject_counts, subject_names = {}, {}
    for key, count in counts["subject_facet"].items():
        code, _bar, name = (key or "").partition("|")
        subject_counts[code], subject_names[code] = count, name
    return {
        "subject": _facet_values("subject", subject_counts, filters, subject_names),
        "category": _facet_values("category", counts["category"], filters, CATEGORY_LABELS),
        "hours": _facet_values("hours", counts["hours"], filters, HOURS_LABELS),
        "publisher": _facet_values("publisher", counts["publisher"], filters, {}),
    }


def _hit(snap, doc: int, mark, score: float) -> SearchHit:
    stored = snap.searcher.stored_fields(doc)
    category = stored["category"]
    return SearchHit(
        code=stored["code"], title=stored["title"], title_html=_mark(stored["title"], mark, None),
        snippet_html=_snippet(stored, mark),
        subject_code=stored["subject"], subject_name=stored["subject_name"], category=category,
        category_label=_(CATEGORY_LABELS[category]) if category in CATEGORY_LABELS else category,
        credit_hours=Decimal(stored["credit_tenths"]) / 10, publisher=stored["publisher"],
        published_at=stored.get("published_at"), score=score,
    )


def _mark(text: str, mark, window: int | None) -> Markup:
    """``text`` escaped, the matched words in <mark>; cut to ``window`` characters around the first."""
    found = mark.search(text) if mark and text else None
    if window is not None and len(text) > window:
        start = max(0, min(found.start() - window // 3 if found else 0, len(text) - window))
        piece = text[start:start + window]
        text = ("…" if start else "") + piece + ("…" if start + window < len(text) else "")
    if not mark:
        return Markup(escape(text))
    out, pos = [], 0
    for m in mark.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append(Markup("<mark>%s</mark>") % m.group())
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _snippet(stored: dict, mark) -> Markup:
    for name in ("summary", "lessons", "keywords", "body"):
        text = " ".join((stored.get(name) or "").split())
        if text and mark and mark.search(text):
            return _mark(text, mark, SNIPPET_CHARS)
    return _mark(" ".join((stored.get("summary") or "").split()), mark, SNIPPET_CHARS)


SNIPPET_CHARS = 120


def _suggest(snap, matches, query: str, limit: int = 6) -> list[str]:
    """Queries that do find something: the words typed that match, without those that match
    nothing; close spellings of Latin words; then the subjects that have courses."""
    suggestions: list[str] = []
    known = [w.text for w in matches.words if w.docs]
    if known and len(known) < len(matches.words):
        sets = [w.docs for w in matches.words if w.docs]
        if set.intersection(*sets):
            suggestions.append(" ".join(known))
    reader = snap.reader
    for word in matches.words:
        if not word.docs and word.text.isascii() and len(word.text) > 3:
            for fieldname in ("title", "keywords"):
                options = reader.corrector(fieldname).suggest(word.text.lower(), limit=1, maxdist=2)
                if options and options[0] not in suggestions:
                    suggestions.append(options[0])
                    break
    for key in sorted(_subject_names(snap)):
        name = (key or "").partition("|")[2]
        if name and name not in suggestions:
            suggestions.append(name)
    return suggestions[:limit]


def suggest_completions(prefix: str, *, limit: int = 8, index_dir=None) -> list[dict]:
    """What the search box offers while one types: dictionary terms and course titles that
    contain ``prefix`` (or whose pinyin starts with it), terms first."""
    prefix = typed_text(prefix)[:MAX_QUERY_LENGTH]
    if not prefix:
        return []
    return _read(lambda: _completions(_snapshot(index_dir), prefix.lower(), limit))


def _completions(snap, prefix: str, limit: int) -> list[dict]:
    out: list[dict] = []
    seen: set[str] = set()
    for term, synonyms in snap.dictionary.entries:
        if any(w.lower().startswith(prefix) for w in (term, *synonyms)) and term not in seen:
            seen.add(term)
            if engine.find(snap, _analyzer(), term).docs:  # only terms that find a course
                out.append({"text": term, "kind": "term"})
    pinyin = snap.column("pinyin_column") if prefix.isascii() else None
    for doc, title in snap.titles:
        if len(out) >= limit:
            break
        if title in seen:
            continue
        if prefix in title.lower() or (pinyin and any(p.startswith(prefix) for p in (pinyin[doc] or "").split())):
            seen.add(title)
            out.append({"text": title, "kind": "title"})
    return out[:limit]


@health.check("search")
def _index_state() -> dict:
    """Readiness (lms/core/health.py): the live index opens; how many courses it holds."""
    try:
        snap = _read(lambda: _snapshot(None))
    except SearchUnavailable as exc:
        return {"status": health.DEGRADED, "error": exc.reason}
    return {"status": health.OK, "courses": len(snap.live)}
