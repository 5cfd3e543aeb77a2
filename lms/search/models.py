"""The search dictionary as admins edit it: terms kept whole by jieba, each with its synonyms."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow_naive
from ..extensions import db


class SearchTerm(db.Model):
    """A domain term (个人信息保护法) and the words that mean the same (个保法 PIPL)."""

    __tablename__ = "search_term"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(40), unique=True)
    synonyms: Mapped[str] = mapped_column(String(400), default="")  # space-separated; a phrase joins its words with _
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_naive, onupdate=utcnow_naive)

    @property
    def synonym_list(self) -> tuple[str, ...]:
        return tuple(s.replace("_", " ") for s in self.synonyms.split())


class SearchDictionaryGeneration(db.Model):
    """One row: bumped by every edit of the dictionary, carried into the index it is rebuilt with."""

    __tablename__ = "search_dictionary_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
