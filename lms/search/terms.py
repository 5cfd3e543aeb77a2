"""Editing the search dictionary: one service behind the admin page and ``flask search terms``.

An edit bumps the dictionary's generation and asks for a rebuild once the transaction commits
(``tasks``): the worker rebuilds the index with the new dictionary, writes it beside the index,
and every process that searches applies it when it opens that generation.
"""

import re
import unicodedata

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..core.audit import record_event
from ..core.database import advisory_lock
from ..core.errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from .dictionary import Dictionary
from .engine import CHINESE_STOP_WORDS, ENGLISH_STOP_WORDS
from .models import SearchDictionaryGeneration, SearchTerm

MAX_TERM = 40
MAX_SYNONYMS = 400
REBUILD_AFTER_COMMIT = "search_rebuild_after_commit"  # Session.info key read by tasks._after_commit
_WORD = re.compile(r"^[\w.+#·-]+$")


def current_dictionary(session=None) -> Dictionary:
    session = session if session is not None else db.session
    rows = session.scalars(select(SearchTerm).order_by(SearchTerm.term)).all()
    generation = session.scalar(select(SearchDictionaryGeneration.generation)) or 0
    return Dictionary.of(((row.term.replace("_", " "), row.synonym_list) for row in rows), generation)


def all_terms() -> list[SearchTerm]:
    return list(db.session.scalars(select(SearchTerm).order_by(SearchTerm.term)))


def term_for_editing(term_id: int | None) -> tuple[int, str, str] | None:
    """(id, term, synonyms) of a term as the form shows it, for the page's 修改 link; None if gone."""
    row = db.session.get(SearchTerm, term_id) if term_id else None
    return None if row is None else (row.id, row.term.replace("_", " "), " ".join(row.synonym_list))


def _is_stop_word(word: str) -> bool:
    from jieba.analyse.analyzer import STOP_WORDS  # heavy: loaded with the search (services.init_jieba)

    return word in CHINESE_STOP_WORDS or word.lower() in ENGLISH_STOP_WORDS or word.lower() in STOP_WORDS


def _clean(term: str, synonyms: str) -> tuple[str, str]:
    # As searches read what is typed: full-width letters and digits as ASCII (ＡＩ is AI).
    term = " ".join(unicodedata.normalize("NFKC", term or "").split())
    synonyms = unicodedata.normalize("NFKC", synonyms or "")
    if not term:
        raise InvalidInput(_("请填写词语。"), field="term")
    if len(term) > MAX_TERM or not all(_WORD.match(w) for w in term.split()):
        raise InvalidInput(_("词语应为 %(n)s 个字以内的文字、字母或数字，不含标点。", n=MAX_TERM), field="term")
    if " " in term and not term.isascii():
        raise InvalidInput(_("中文词语中间不能有空格或换行；空格只用于英文词组，如 machine learning。"), field="term")
    if _is_stop_word(term):
        raise InvalidInput(_("“%(term)s”是检索时忽略的常用词（如“的”“课程”“the”），不能作为词典词语。", term=term),
                           field="term")
    words = [w for w in re.split(r"[\s,\uff0c\u3001;\uff1b]+", synonyms) if w]
    if any(not _WORD.match(w) for w in words):
        raise InvalidInput(_("同义词只能包含文字、字母和数字，用空格或逗号分隔；词组用下划线连接，如 machine_learning。"),
                           field="synonyms")
    stop = [w for w in words if _is_stop_word(w)]
    if stop:
        raise InvalidInput(_("“%(word)s”是检索时忽略的常用词，不能作为同义词。", word=stop[0]), field="synonyms")
    text = " ".join(dict.fromkeys(w for w in words if w.lower() != term.lower()))
    if len(text) > MAX_SYNONYMS:
        raise InvalidInput(_("同义词合计不能超过 %(n)s 个字符。", n=MAX_SYNONYMS), field="synonyms")
    return term.replace(" ", "_") if " " in term else term, text


# Any constant: the key of the PostgreSQL advisory lock that orders edits of the dictionary.
_DICTIONARY_LOCK_KEY = 0x67787364  # "gxsd"


def _one_edit_at_a_time() -> None:
    """PostgreSQL: wait for another edit of the dictionary to commit, so that two admins adding the
    same term make one row and a refusal (not a unique-key failure), and each edit its own
    generation. SQLite: a request that writes holds the write lock from BEGIN."""
    advisory_lock(_DICTIONARY_LOCK_KEY)


def save_term(actor, term_id: int | None, term: str, synonyms: str) -> SearchTerm:
    """Add a term (``term_id`` None), or change one; the index is rebuilt with it after the commit."""
    term, synonyms = _clean(term, synonyms)
    _one_edit_at_a_time()
    row = db.session.get(SearchTerm, term_id) if term_id is not None else None
    if term_id is not None and row is None:
        raise NotFound(_("该词语不存在或已被删除。"))
    clash = db.session.scalar(select(SearchTerm).where(func.lower(SearchTerm.term) == term.lower()))
    if clash is not None and clash is not row:
        raise Conflict(_("词语“%(term)s”已在词典中，请在下方列表中点击“修改”编辑它。", term=clash.term), field="term")
    if row is None:
        row = SearchTerm(term=term)
        db.session.add(row)
    row.term, row.synonyms = term, synonyms
    db.session.flush()
    _changed(actor, "search.term_saved", row, term=term, synonyms=synonyms)
    return row


def delete_term(actor, term_id: int) -> str:
    _one_edit_at_a_time()
    row = db.session.get(SearchTerm, term_id)
    if row is None:
        raise NotFound(_("该词语不存在或已被删除。"))
    term = row.term
    db.session.delete(row)
    db.session.flush()
    _changed(actor, "search.term_deleted", None, term=term)
    return term


def _changed(actor, action: str, target, **detail) -> None:
    state = db.session.scalar(select(SearchDictionaryGeneration))
    if state is None:
        state = SearchDictionaryGeneration(generation=0)
        db.session.add(state)
    state.generation += 1
    db.session.flush()
    record_event(actor, action, target, generation=state.generation, **detail)
    db.session.info[REBUILD_AFTER_COMMIT] = True
