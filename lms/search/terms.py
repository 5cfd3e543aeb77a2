"""Editing the search dictionary: one service behind the admin page and ``flask search terms``.

An edit bumps the dictionary's generation and asks for a rebuild once the transaction commits
(``tasks``): the worker rebuilds the index with the new dictionary, writes it beside the index,
and every process that searches applies it when it opens that generation.
"""

import re

from flask_babel import gettext as _
from sqlalchemy import select

from ..core.audit import record_event
from ..core.errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from .dictionary import Dictionary
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


def _clean(term: str, synonyms: str) -> tuple[str, str]:
    term = " ".join((term or "").split())
    if not term:
        raise InvalidInput(_("请填写词语。"), field="term")
    if len(term) > MAX_TERM or not all(_WORD.match(w) for w in term.split()):
        raise InvalidInput(_("词语应为 %(n)s 个字以内的文字、字母或数字，不含标点。", n=MAX_TERM), field="term")
    words = [w for w in re.split(r"[\s,\uff0c\u3001;\uff1b]+", synonyms or "") if w]
    if any(not _WORD.match(w) for w in words):
        raise InvalidInput(_("同义词只能包含文字、字母和数字，用空格或逗号分隔；词组用下划线连接，如 machine_learning。"),
                           field="synonyms")
    text = " ".join(dict.fromkeys(w for w in words if w.lower() != term.lower()))
    if len(text) > MAX_SYNONYMS:
        raise InvalidInput(_("同义词合计不能超过 %(n)s 个字符。", n=MAX_SYNONYMS), field="synonyms")
    return term.replace(" ", "_") if " " in term else term, text


def save_term(actor, term_id: int | None, term: str, synonyms: str) -> SearchTerm:
    """Add a term, or change one; the index is rebuilt with it after the commit."""
    term, synonyms = _clean(term, synonyms)
    row = db.session.get(SearchTerm, term_id) if term_id else None
    if term_id and row is None:
        raise NotFound(_("该词语不存在或已被删除。"))
    clash = db.session.scalar(select(SearchTerm).where(SearchTerm.term == term))
    if clash is not None and clash is not row:
        raise Conflict(_("词语“%(term)s”已在词典中，请直接修改它。", term=term), field="term")
    if row is None:
        row = SearchTerm(term=term)
        db.session.add(row)
    row.term, row.synonyms = term, synonyms
    db.session.flush()
    _changed(actor, "search.term_saved", row, term=term, synonyms=synonyms)
    return row


def delete_term(actor, term_id: int) -> str:
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
