"""How quantities are written for people, and what people typed read as it was meant."""

import unicodedata
from decimal import Decimal

from flask_babel import gettext as _

from .i18n import format_number


def format_hours(value) -> str:
    """Decimal('2.0') → '2', Decimal('1.5') → '1.5': the same in every language, for files, certificates
    and signed credentials (pages use ``reader_hours``)."""
    value = Decimal(value)
    text = format(value.quantize(Decimal("0.1")), "f")
    return text[:-2] if text.endswith(".0") else text


def reader_hours(value) -> str:
    """Hours on a page: to a tenth, with the reader's number separators (Babel, the request's locale)."""
    return format_number(Decimal(value).quantize(Decimal("0.1")))


def format_duration(seconds) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    if minutes:
        return _("%(minutes)s 分 %(seconds)s 秒", minutes=minutes, seconds=format(secs, "02d"))
    return _("%(seconds)s 秒", seconds=secs)


def typed_text(text: str | None) -> str:
    """What was typed into a box, as it was meant: full-width letters and digits as ASCII (ＡＩ,
    ２０２１: Chinese input methods type them), control and invisible format characters (NUL,
    zero-width spaces, direction marks, BOM) as spaces, runs of spaces as one."""
    text = unicodedata.normalize("NFKC", text or "")
    return " ".join("".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text).split())
