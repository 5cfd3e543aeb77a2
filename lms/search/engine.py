"""How a query finds and ranks courses, on the postings of the Whoosh index.

Precision first. The query is cut into meaningful words (jieba's accurate mode under the search
dictionary; Chinese and English stop words dropped). A course matches when every word matches it
in some field: the word whole, a synonym of it, or — when the index cut the text differently —
all the pieces of the word (its jieba search-mode sub-tokens) within one field. Whoosh's own
multi-field AND asks every word of one field, and a naive AND over jieba tokens fails on words
it cut differently (安全法, 保护法); hence matching word by word here. Latin words that match no
text also try the titles' pinyin (wlaq, rengongzhineng) and then close spellings (one or two
edits). When no course has every word, a query of three or more words falls back to the courses
with most of them, and the result says so.

Speed: the work per query is proportional to the courses that match, not to the catalog. Each
(field, term) posting list is read once per index generation into a ``{docnum: weight}`` map and
kept (a bounded cache of the index, not of results); facets are counted and sorts keyed from
per-document columns read once per generation; only the page shown reads stored fields, and its
highlights mark the matched words in the stored text without cutting it again.

Ranking: an exact title match first, then courses matching more words in the title, keywords
or title pinyin, then a tf·idf sum over fields weighted title > keywords > lessons > summary > body.
"""

import heapq
import math
import os
import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from whoosh.filedb.filestore import FileStorage
from whoosh.index import FileIndex

from . import dictionary as search_dictionary

FIELD_BOOSTS = {"title": 8.0, "pinyin": 6.0, "keywords": 5.0, "lessons": 2.5, "summary": 2.0, "body": 1.0}
TEXT_FIELDS = ("title", "keywords", "lessons", "summary", "body")
STRONG_FIELDS = frozenset({"title", "keywords", "pinyin"})
FUZZY_FIELDS = ("title", "keywords", "lessons", "summary")
FACET_COLUMNS = ("subject_facet", "category", "hours", "publisher")

# Words that say nothing about which course is wanted. English ones come with jieba's analyser.
CHINESE_STOP_WORDS = frozenset(str.split(
    "的 了 和 与 及 以及 或 或者 在 是 有 对 等 中 之 为 把 被 从 到 也 都 而 并 及其 关于 如何 怎么 怎样 什么 哪些 "
    "一些 一个 这个 那个 我 我们 你 他 吗 呢 吧 啊 不 课程 课 教程 相关 方面 学习 培训 想 要 一下 请 找"))
ENGLISH_STOP_WORDS = frozenset(str.split(
    "a an and are as at be by can for from have how if in is it of on or that the this to what with about course "
    "courses"))
_PUNCT = re.compile(r"^[\W_]+$")
_SYNTAX = str.maketrans({ch: " " for ch in "\"'():*?~^[]{}+-!\\/《》“”‘’，。、；：？！（）【】"})
_NORMAL = re.compile(r"[\s\W_]+")
_CODE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,12}){1,4}$")  # GX-NS-001
BODY_MIN_TF = 2  # times a word must occur in the body alone to match there
POSTINGS_CACHE_SIZE = 50_000  # (field, term) entries per index generation


# ---------------------------------------------------------------- the open index, per generation

@dataclass
class Snapshot:
    """One generation of the live index, opened once and shared by every search in the process."""

    key: tuple
    ix: object
    searcher: object
    dictionary: search_dictionary.Dictionary
    live: frozenset = frozenset()
    columns: dict = field(default_factory=dict)
    postings: dict = field(default_factory=dict)
    filters: dict = field(default_factory=dict)
    titles: list = field(default_factory=list)  # (docnum, title, pinyin) for suggestions
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def reader(self):
        return self.searcher.reader()

    def column(self, name: str) -> list:
        col = self.columns.get(name)
        if col is None:
            reader = self.reader
            # An index without documents has no columns at all (Whoosh's EmptyReader).
            col = list(reader.column_reader(name)) if reader.has_column(name) else [None] * reader.doc_count_all()
            self.columns[name] = col
        return col

    def posting(self, fieldname: str, term: str) -> dict:
        """``{docnum: weight}`` of ``term`` in ``fieldname``, read once per generation."""
        cache_key = (fieldname, term)
        found = self.postings.get(cache_key)
        if found is None:
            found = {}
            for _segment, base, m, deleted in _segment_postings(self.reader, fieldname, term):
                for ids, weights, _values in _blocks(m, values=False):
                    found.update(zip(ids if not base else [d + base for d in ids], weights, strict=True))
                for doc in deleted:
                    found.pop(doc + base, None)
            if len(self.postings) >= POSTINGS_CACHE_SIZE:
                self.postings.clear()
            self.postings[cache_key] = found
        return found

    def positions(self, fieldname: str, term: str, docs) -> dict:
        """``{docnum: positions}`` of ``term`` in ``fieldname`` for ``docs`` (character offsets: jieba's
        tokenizer gives each token its start as its position); read as asked, kept per generation."""
        cache = self.postings.get(("positions", fieldname, term))
        if cache is None:
            cache = self.postings[("positions", fieldname, term)] = {}
        missing = {d for d in docs if d not in cache}
        if missing:
            for segment, base, m, _deleted in _segment_postings(self.reader, fieldname, term):
                decode = segment.schema[fieldname].format.decoder("positions")
                wanted = sorted(d - base for d in missing if base <= d < base + segment.doc_count_all())
                for ids, _weights, values in _blocks(m, values=True, wanted=wanted):
                    for i, doc in enumerate(ids):
                        if doc + base in missing:
                            cache[doc + base] = frozenset(decode(values[i]))
        return cache

    def pieces(self, analyzer, text: str) -> tuple:
        """``_pieces(text)``, once per generation (the dictionary jieba cuts by comes with it)."""
        key = ("pieces", text)
        found = self.postings.get(key)
        if found is None:
            whole, pieces = _pieces(analyzer, text)
            found = self.postings[key] = (whole, tuple(pieces))
        return found

    def values(self, name: str) -> set:
        """The distinct values of a column among live courses (the subjects that have courses)."""
        key = ("values", name)
        found = self.postings.get(key)
        if found is None:
            col = self.column(name)
            found = self.postings[key] = {col[d] for d in self.live}
        return found

    def filter_set(self, name: str, value: str) -> frozenset:
        key = (name, value)
        found = self.filters.get(key)
        if found is None:
            col = self.column(name)
            found = self.filters[key] = frozenset(d for d in self.live if col[d] == value)
        return found

    def close(self) -> None:
        self.searcher.close()


def _segment_postings(reader, fieldname: str, term: str):
    """(segment reader, its first docnum, its matcher of ``term``, its deleted docnums) for each
    segment that has the term: the matcher without Whoosh's filter of deleted documents, which the
    caller drops itself (a filter reads posting by posting)."""
    from whoosh.matching.wrappers import FilterMatcher  # with whoosh

    for segment, base in reader.leaf_readers():
        if (fieldname, term) not in segment:
            continue
        m = segment.postings(fieldname, term)
        deleted = ()
        if isinstance(m, FilterMatcher):
            m, deleted = m.child, m._ids
        yield segment, base, m, deleted


def _blocks(m, *, values: bool, wanted: list | None = None):
    """(ids, weights, values or None) of a matcher, a block at a time: Whoosh's codec reads a block of
    up to 128 postings as arrays, which its per-posting ``id()``/``weight()`` hand out one call at a
    time (most of a cold search's time). Blocks holding none of the ``wanted`` docnums (sorted; None:
    all) are skipped unread. A matcher of another kind (a term's few postings kept inline) is read
    posting by posting."""
    from whoosh.codec.whoosh3 import W3LeafMatcher  # with whoosh

    if not isinstance(m, W3LeafMatcher):
        ids, weights, vals = [], [], []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            vals.append(m.value() if values else None)
            m.next()
        yield ids, weights, vals
        return
    position = 0
    while m.is_active():
        if wanted is not None:
            while position < len(wanted) and wanted[position] < m.block_min_id():
                position += 1
            if position == len(wanted):
                return
            if wanted[position] > m.block_max_id():
                m._next_block()
                continue
        if m._ids is None:
            m._read_ids()
        if m._weights is None:
            m._read_weights()
        if values and m._values is None:
            m._read_values()
        yield m._ids, m._weights, m._values if values else None
        m._next_block()


class NoTableOfContents(Exception):
    """The live generation has no table of contents: there is no index to read."""


_snapshots: dict[str, Snapshot] = {}
_retired: list[tuple[float, Snapshot]] = []
_open_lock = threading.Lock()
RETIRE_AFTER = 60.0  # seconds a replaced generation stays open for searches still reading it


class _OpeningStorage(FileStorage):
    """A generation's files, remembering each one opened while a block or a read attempt is under
    way, so that what a failed one opened is closed at once rather than left to the garbage
    collector (a damaged segment fails part-way through opening it). While it tracks, a storage is
    used by one thread: snapshots open under ``_open_lock`` and each update opens a storage of its own."""

    def __init__(self, path: str):
        super().__init__(path)
        self.opened: list | None = None

    def open_file(self, name, **kwargs):
        opened = super().open_file(name, **kwargs)
        if self.opened is not None:
            self.opened.append(opened)
        return opened

    @contextmanager
    def tracking(self):
        """Track the block's opens (within any enclosing block's); close them all if it fails."""
        outer, self.opened = self.opened, []
        try:
            yield
        except BaseException:
            for opened in self.opened:
                if not opened.is_closed:
                    opened.close()
            raise
        finally:
            if outer is not None:
                outer.extend(self.opened)
            self.opened = outer


_pause = time.sleep  # between read attempts (a name of its own, for tests to replace)


class _ClosingIndex(FileIndex):
    """Whoosh's index with its reader retried as Whoosh retries it (a writer may delete a segment
    just as a reader opens it), but each failed attempt's files closed before the next: a rebuild
    swapped in during the retries makes a later attempt succeed, and the files of the attempts
    before it would otherwise stay open."""

    ATTEMPTS = 10

    def reader(self, reuse=None):
        failed = 0
        while True:
            try:
                with self.storage.tracking():
                    info = self._read_toc()
                    return self._reader(self.storage, info.schema, info.segments, info.generation, reuse=reuse)
            except OSError:
                failed += 1
                if failed == self.ATTEMPTS:
                    raise
                _pause(0.05)


@contextmanager
def opened_index(live: Path):
    """The index in ``live`` for the block; when the block fails, every file it opened is closed.
    When it succeeds, what it opened belongs to the searchers and writers it made."""
    storage = _OpeningStorage(str(live))
    with storage.tracking():
        yield storage.open_index(indexclass=_ClosingIndex)


def _generation_key(live: Path) -> tuple:
    """What identifies the files of the live generation: a rebuild swaps the link, an update
    commits new segment files, damage changes sizes or times. A listing costs ~50 µs."""
    real = os.path.realpath(live)
    with os.scandir(real) as entries:
        files = tuple(sorted((e.name, *(lambda s: (s.st_size, s.st_mtime_ns))(e.stat())) for e in entries
                             if e.is_file() and not e.name.endswith(".lock")))
    return (real, files)


def snapshot(live: Path) -> Snapshot:
    """The open searcher of the live generation; reopened (and the dictionary reapplied) when the
    generation changed since the last search in this process."""
    key = _generation_key(live)
    if not any(name.endswith(".toc") for name, *_rest in key[1]):
        raise NoTableOfContents(live)
    current = _snapshots.get(str(live))
    if current is not None and current.key == key:
        search_dictionary.apply(current.dictionary)
        return current
    with _open_lock:
        current = _snapshots.get(str(live))
        if current is not None and current.key == key:
            return current
        with opened_index(live) as ix:
            searcher = ix.searcher()
            reader = searcher.reader()
            fresh = Snapshot(key=key, ix=ix, searcher=searcher, dictionary=search_dictionary.read(Path(key[0])),
                             live=frozenset(reader.all_doc_ids()))
            titles = list(reader.column_reader("title_sort")) if reader.has_column("title_sort") else []
            fresh.titles = [(d, t) for d, t in enumerate(titles) if d in fresh.live]
        search_dictionary.apply(fresh.dictionary)
        _snapshots[str(live)] = fresh
        now = time.monotonic()
        if current is not None:
            _retired.append((now, current))
        while _retired and now - _retired[0][0] > RETIRE_AFTER:
            _retired.pop(0)[1].close()
        return fresh


def close_all() -> None:
    """Close every open generation (tests and shutdown)."""
    with _open_lock:
        for snap in list(_snapshots.values()) + [s for _, s in _retired]:
            snap.close()
        _snapshots.clear()
        _retired.clear()


# ---------------------------------------------------------------- the query

@dataclass
class Word:
    text: str  # as typed
    alternatives: tuple[str, ...]  # the word and its synonyms
    fields: dict = field(default_factory=dict)  # field -> {docnum: tf}
    marks: set = field(default_factory=set)  # strings to highlight
    _docs: set | None = None

    @property
    def docs(self) -> set:
        if self._docs is None:
            out: set = set()
            for found in self.fields.values():
                out |= found.keys()
            self._docs = out
        return self._docs


def meaningful_words(query: str) -> list[str]:
    """The words of ``query`` that say what is wanted: jieba's accurate cut, stop words and
    punctuation dropped, Latin words kept whole. The index's analyser drops its own English stop
    words (may, will, we…): a query keeping one would ask for a word no course can have."""
    import jieba  # loaded by services.init_jieba()
    from jieba.analyse.analyzer import STOP_WORDS as INDEXED_NOT  # with jieba

    words = []
    for token in jieba.cut(query.translate(_SYNTAX)):
        token = token.strip()
        if not token or _PUNCT.match(token):
            continue
        if token.lower() in ENGLISH_STOP_WORDS or token.lower() in INDEXED_NOT or token in CHINESE_STOP_WORDS:
            continue
        words.append(token)
    return list(dict.fromkeys(words))


def _join_phrases(words: list[str], dictionary) -> list[str]:
    """Adjacent Latin words that form a dictionary phrase (machine learning) count as one word."""
    out, i = [], 0
    while i < len(words):
        if i + 1 < len(words) and words[i].isascii() and words[i + 1].isascii():
            pair = _dictionary_phrase(f"{words[i]} {words[i + 1]}", dictionary)
            if pair:
                out.append(pair)
                i += 2
                continue
        out.append(words[i])
        i += 1
    return out


def _dictionary_phrase(pair: str, dictionary) -> str | None:
    """``pair`` when the dictionary has it, or its phrase within two edits (machne learning)."""
    if dictionary.synonyms(pair):
        return pair
    for term, synonyms in dictionary.entries:
        for word in (term, *synonyms):
            if " " in word and _distance(word.lower(), pair.lower()) <= 2:
                return word
    return None


def _distance(a: str, b: str) -> int:
    """Levenshtein distance (short phrases only)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _pieces(analyzer, text: str):
    """(whole term or None, covering pieces): jieba's search-mode tokens of ``text``; the pieces
    cover it left to right, longest first, each as (term, its start within ``text``)."""
    tokens = [(t.text, t.startchar, t.endchar) for t in analyzer(text, chars=True)]
    if not tokens:
        return None, []
    whole = next((t for t, s, e in tokens if s == 0 and e == len(text)), None)
    pieces, pos = [], 0
    by_start: dict[int, list] = {}
    for t, s, e in tokens:
        if (t, s, e) != (whole, 0, len(text)):
            by_start.setdefault(s, []).append((e, t))
    while pos < len(text):
        options = by_start.get(pos)
        if options:
            end, term = max(options)
            pieces.append((term, pos))
            pos = end
        else:
            pos += 1
    return whole, pieces


def match_word(snap: Snapshot, analyzer, word: str) -> Word:
    dictionary = snap.dictionary
    alternatives = (word, *dictionary.synonyms(word))
    found = Word(word, alternatives)
    for alt in alternatives:
        _match_text(snap, analyzer, alt, found)
    if not found.fields and word.isascii():
        _match_pinyin_or_spelling(snap, analyzer, word, found)
    found._docs = None
    return found


def _add(found: Word, fieldname: str, postings: dict) -> None:
    """Merge ``postings`` into the word's matches in ``fieldname`` (never mutating a cached map)."""
    if not postings:
        return
    into = found.fields.get(fieldname)
    if into is None:
        found.fields[fieldname] = postings
        return
    merged = dict(into)
    for doc, tf in postings.items():
        if tf > merged.get(doc, 0):
            merged[doc] = tf
    found.fields[fieldname] = merged


def _part_postings(snap: Snapshot, fieldname: str, whole: str | None, pieces: tuple) -> dict:
    """``{docnum: tf}`` of the courses whose ``fieldname`` has the word whole or all its pieces;
    read once per generation like the posting lists it is made of."""
    key = ("word", fieldname, whole, pieces)
    found = snap.postings.get(key)
    if found is not None:
        return found
    found = snap.posting(fieldname, whole) if whole else {}
    if fieldname == "body" and found:  # one passing mention in the long text is not what the course is about
        found = {doc: tf for doc, tf in found.items() if tf >= BODY_MIN_TF}
    if len(pieces) > 1 or (pieces and not whole):
        lists = sorted((snap.posting(fieldname, p) for p, _start in pieces), key=len)
        common = set(lists[0]).intersection(*lists[1:]) - found.keys()
        if len(pieces) > 1:
            common = _in_sequence(snap, fieldname, pieces, common)
        if common:
            found = {**found, **{doc: min(lst[doc] for lst in lists) for doc in common}}
    snap.postings[key] = found
    return found


def _in_sequence(snap: Snapshot, fieldname: str, pieces: tuple, docs: set) -> set:
    """The ``docs`` whose ``fieldname`` has the pieces side by side as in the word (个人 then 信息
    right after it), not merely somewhere in the same text: positions are character offsets, so
    piece k must start where the word's first piece starts plus its own offset in the word."""
    if not docs:
        return docs
    (first, first_start), rest = pieces[0], pieces[1:]
    starts = snap.positions(fieldname, first, docs)
    others = [(snap.positions(fieldname, term, docs), start - first_start) for term, start in rest]
    return {doc for doc in docs
            if any(all(p + offset in at.get(doc, ()) for at, offset in others) for p in starts.get(doc, ()))}


def _match_text(snap: Snapshot, analyzer, alt: str, found: Word) -> None:
    parts = alt.split() if alt.isascii() else [alt]
    cut = [snap.pieces(analyzer, part) for part in parts]
    for fieldname in TEXT_FIELDS:
        per_part = [_part_postings(snap, fieldname, whole, pieces) for whole, pieces in cut]
        if not all(per_part):
            continue
        if len(per_part) == 1:
            _add(found, fieldname, per_part[0])
        else:
            common = set(per_part[0]).intersection(*per_part[1:])
            _add(found, fieldname, {d: min(p[d] for p in per_part) for d in common})
    if found.fields:
        found.marks.add(alt)
        for _whole, pieces in cut:
            found.marks.update(p for p, _start in pieces if len(p) > 1)


def _match_pinyin_or_spelling(snap: Snapshot, analyzer, word: str, found: Word) -> None:
    spelled = word.lower().replace(" ", "")
    postings = snap.posting("pinyin", spelled)
    if postings:
        _add(found, "pinyin", postings)
        found.marks.update(_titles_words_with_pinyin(snap, postings, spelled))
        return
    if len(spelled) < 4 or " " in word:
        return
    stemmed = [t.text for t in analyzer(word)]
    if len(stemmed) != 1:
        return
    maxdist = 1 if len(spelled) <= 6 else 2
    reader = snap.reader
    for fieldname in FUZZY_FIELDS:
        for term in reader.terms_within(fieldname, stemmed[0], maxdist, prefix=1):
            if term.isascii() and len(term) >= 3:
                _add(found, fieldname, snap.posting(fieldname, term))
                found.marks.add(term)


def _titles_words_with_pinyin(snap: Snapshot, postings: dict, spelled: str) -> set[str]:
    """The Chinese words of the matched titles whose pinyin was typed, to highlight them."""
    from pypinyin import lazy_pinyin  # indexing and pinyin queries only

    marks = set()
    for doc in list(postings)[:20]:
        title = snap.searcher.stored_fields(doc).get("title", "")
        for size in range(2, 9):
            for start in range(len(title) - size + 1):
                chunk = title[start:start + size]
                syllables = lazy_pinyin(chunk, errors="ignore")
                if len(syllables) == size and spelled in ("".join(syllables), "".join(s[0] for s in syllables)):
                    marks.add(chunk)
    return marks


@dataclass
class Matches:
    words: list[Word]
    docs: set
    partial: bool = False  # no course had every word: these have most of them


def find(snap: Snapshot, analyzer, query: str) -> Matches:
    by_code = snap.posting("code", query.strip().upper()) if _CODE.match(query.strip()) else {}
    if by_code:  # a course code, as shown on the result cards
        return Matches([], set(by_code) & snap.live)
    words = [match_word(snap, analyzer, w) for w in _join_phrases(meaningful_words(query), snap.dictionary)]
    if not words:  # only stop words, punctuation or symbols: nothing says what is wanted
        return Matches(words, set())
    sets = sorted((w.docs for w in words), key=len)
    docs = sets[0].intersection(*sets[1:]) & snap.live
    if docs or len(words) < 3:
        return Matches(words, docs)
    need = len(words) // 2 + 1  # most of the words
    counts = Counter(d for s in sets for d in s)
    return Matches(words, {d for d, c in counts.items() if c >= need} & snap.live, partial=True)


def normalized(text: str) -> str:
    return _NORMAL.sub("", text.lower())


def _relevance(snap: Snapshot, matches: Matches, query: str):
    """A function of a document giving its sort key by relevance: (exact title match, words matched
    in a strong field, tf·idf score)."""
    total = max(1, len(snap.live))
    weights = []
    for word in matches.words:
        idf = math.log(1 + total / max(1, len(word.docs)))
        weights.append((idf, [(FIELD_BOOSTS[f], f in STRONG_FIELDS, tfs) for f, tfs in word.fields.items()]))
    wanted = normalized(query)
    title_col = snap.column("title_sort") if wanted else None

    def key(doc: int) -> tuple:
        strong, score = 0, 0.0
        for idf, per_field in weights:
            best, is_strong = 0.0, False
            for boost, strong_field, tfs in per_field:
                tf = tfs.get(doc)
                if tf:
                    best = max(best, boost * (1 + math.log(tf)))
                    is_strong = is_strong or strong_field
            score += idf * best
            strong += is_strong
        exact = bool(title_col) and normalized(title_col[doc] or "") == wanted
        return exact, strong, score

    return key


def rank(snap: Snapshot, matches: Matches, docs, query: str, limit: int) -> list[int]:
    """The first ``limit`` of ``docs`` by relevance (see the module's docstring)."""
    key = _relevance(snap, matches, query)
    return heapq.nlargest(limit, docs, key=lambda doc: (*key(doc), -doc))


def scores(snap: Snapshot, matches: Matches, docs, query: str) -> dict[int, float]:
    """The tf·idf score of each of ``docs`` (what ranks them after the exact and strong matches)."""
    key = _relevance(snap, matches, query)
    return {doc: round(key(doc)[2], 3) for doc in docs}


# ---------------------------------------------------------------- highlighting

def marker(words: list[Word]):
    """A regular expression for the matched words (longest first), or None."""
    marks = sorted({m for w in words for m in w.marks if m.strip()}, key=len, reverse=True)
    if not marks:
        return None
    parts = [r"(?<![A-Za-z0-9])" + re.escape(m) + "[A-Za-z0-9]*" if m.isascii() else re.escape(m) for m in marks]
    return re.compile("|".join(parts), re.IGNORECASE)
