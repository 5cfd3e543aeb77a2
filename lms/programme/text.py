"""Text that people type into the programme office's forms and files: names, document numbers,
reasons, notes. What others will read must be what they see, so control characters and invisible
format characters (zero-width spaces and joiners, bidi overrides that would show a name reversed,
a byte-order mark) are refused with a message rather than stored: a name with a zero-width space is
not the same name to the database, yet looks the same in the directory."""

import unicodedata

from flask_babel import gettext as _

from ..core.errors import InvalidInput

# The first characters a spreadsheet reads as a formula (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@")


def hidden_characters(text: str) -> bool:
    """Whether ``text`` holds a control or format character other than ordinary white space."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace() for ch in text or "")


def refuse_hidden(text: str, field: str, label: str) -> None:
    if hidden_characters(text):
        raise InvalidInput(_("%(label)s含有不可见的控制字符或格式字符（如零宽空格、文字方向控制符），"
                             "请删除后重新填写。", label=label), field=field)


def one_line(value, field: str, label: str, *, limit: int, minimum: int = 0) -> str:
    """One line of text: runs of white space as one space; hidden characters refused; its length
    between ``minimum`` (0: may be empty) and ``limit`` characters, or a message naming ``label``."""
    text = " ".join(str(value or "").split())
    refuse_hidden(text, field, label)
    if minimum and not text:
        raise InvalidInput(_("请填写%(label)s。", label=label), field=field)
    if len(text) < minimum:
        raise InvalidInput(_("%(label)s至少 %(n)s 个字。", label=label, n=minimum), field=field)
    if len(text) > limit:
        raise InvalidInput(_("%(label)s不能超过 %(n)s 个字。", label=label, n=limit), field=field)
    return text
