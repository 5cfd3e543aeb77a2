"""How quantities are written for people."""

from decimal import Decimal

from flask_babel import gettext as _


def format_hours(value) -> str:
    """Decimal('2.0') → '2', Decimal('1.5') → '1.5'."""
    value = Decimal(value)
    text = format(value.quantize(Decimal("0.1")), "f")
    return text[:-2] if text.endswith(".0") else text


def format_duration(seconds) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    if minutes:
        return _("%(minutes)s 分 %(seconds)s 秒", minutes=minutes, seconds=format(secs, "02d"))
    return _("%(seconds)s 秒", seconds=secs)
