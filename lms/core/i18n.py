"""The interface language of a request, and how dates, numbers and hours are written in it.

Chinese (``zh_Hans_CN``) is the platform's language; English (``en``) is offered beside it. The
language of a request is, in order: the one chosen on the signed-in person's account (so it follows
them to every device), the one chosen in this browser (a cookie set by the header's switcher), the
browser's ``Accept-Language``, and Chinese when none of these names a language offered.

Outside a request (jobs, the command line) the language is Chinese. Values are formatted by Babel
with the active locale: Chinese keeps ISO dates (2026-03-02) as the platform always wrote them,
English gets Babel's medium date (Mar 2, 2026); numbers get the locale's separators.
"""

from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_skeleton as babel_format_skeleton
from babel.dates import format_time as babel_format_time
from babel.numbers import format_decimal as babel_format_decimal
from flask import g, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

DEFAULT_LOCALE = "zh_Hans_CN"
# Locale → the language tag for <html lang> and for Accept-Language matching.
LOCALES = {"zh_Hans_CN": "zh-CN", "en": "en"}
LOCALE_COOKIE = "lms_locale"
LOCALE_COOKIE_DAYS = 365

# Date and time patterns per language; a language not listed uses Babel's medium formats.
_DATE_PATTERNS = {"zh": "yyyy-MM-dd"}
_MINUTE_PATTERNS = {"zh": "yyyy-MM-dd HH:mm"}


def offered(locale: str | None) -> str | None:
    """The locale as offered (``"en"``, ``"zh_Hans_CN"``), or None when it is not one of them."""
    return locale if locale in LOCALES else None


def from_accept_language() -> str | None:
    """The best offered language by the request's Accept-Language (``en-GB`` → en, ``zh-TW`` → Chinese)."""
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    if best is None:
        return None
    return "en" if best == "en" else DEFAULT_LOCALE


def use_account_locale(locale: str | None) -> None:
    """The signed-in account's chosen language, as a hot path read it with its own rows (the
    heartbeat), so that choosing this request's language does not load the user (a query more)."""
    g.account_locale = locale


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():
        return DEFAULT_LOCALE
    if "account_locale" in g:
        chosen = offered(g.account_locale)
    else:
        chosen = offered(current_user.locale) if current_user.is_authenticated else None
    return chosen or offered(request.cookies.get(LOCALE_COOKIE)) or from_accept_language() or DEFAULT_LOCALE


def active_locale() -> Locale:
    return get_locale() or Locale.parse(DEFAULT_LOCALE)


def html_lang() -> str:
    """The request's language as a BCP 47 tag, for <html lang>."""
    return LOCALES.get(str(active_locale()), LOCALES[DEFAULT_LOCALE])


def format_day(value: date, *, long: bool = False) -> str:
    """2026-03-02 / Mar 2, 2026; ``long``: 2026年3月2日 / March 2, 2026 (Babel's long date)."""
    locale = active_locale()
    if long:
        return babel_format_date(value, "long", locale=locale)
    return babel_format_date(value, _DATE_PATTERNS.get(locale.language, "medium"), locale=locale)


def format_month_day(month: int, day: int) -> str:
    """A day of every year: 12月31日, December 31."""
    return babel_format_skeleton("MMMMd", date(2000, month, day), locale=active_locale())


def format_minute(value: datetime) -> str:
    """An aware (or already local) time to the minute."""
    locale = active_locale()
    pattern = _MINUTE_PATTERNS.get(locale.language)
    if pattern is None:  # "Mar 2, 2026, 9:05 AM"
        return (babel_format_date(value, "medium", locale=locale) + ", "
                + babel_format_time(value, "short", tzinfo=value.tzinfo, locale=locale))
    return babel_format_datetime(value, pattern, tzinfo=value.tzinfo, locale=locale)


def format_number(value, *, places: int = 1) -> str:
    """A quantity with the locale's separators and up to ``places`` decimals, none when whole."""
    return babel_format_decimal(Decimal(value), format="#,##0." + "#" * places, locale=active_locale())
