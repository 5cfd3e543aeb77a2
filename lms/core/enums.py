"""Enumerations whose members carry a label for people, translated when it is shown.

A member is declared with its stored value and its label, the label marked for the catalog
with :func:`N_` (extracted by ``make messages``, not translated at import time)::

    class LessonKind(LabelledEnum):
        VIDEO = "video", N_("视频")

    LessonKind.VIDEO == "video"        # the value is what the database and the API hold
    LessonKind.VIDEO.label             # "视频", in the language of the current request
    LessonKind.VIDEO.source_label      # "视频" always: fixed wording (package files, HR exports)
    LessonKind.from_label("视频")       # LessonKind.VIDEO (also accepts the value)
"""

from enum import StrEnum

from flask_babel import gettext

__all__ = ["LabelledEnum", "N_"]


def N_(message: str) -> str:
    """Marks ``message`` for the catalog and returns it untranslated; it is translated where shown."""
    return message


class LabelledEnum(StrEnum):
    _source_label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member._source_label = label
        return member

    @property
    def label(self) -> str:
        """The label in the current request's language (the source text outside a request)."""
        return gettext(self._source_label)

    @property
    def source_label(self) -> str:
        return self._source_label

    @classmethod
    def labels(cls) -> dict["LabelledEnum", str]:
        """Every member with its label, in declaration order (choices, filters)."""
        return {member: member.label for member in cls}

    @classmethod
    def from_label(cls, text: str):
        """The member whose value, source label or translated label is ``text``."""
        for member in cls:
            if text in (member.value, member.source_label, member.label):
                return member
        raise ValueError(text)
