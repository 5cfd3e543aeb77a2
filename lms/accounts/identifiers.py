"""National identifiers: resident ID numbers (GB 11643), unified social credit codes (GB 32100), mobiles.

Every identifier is folded before it is validated, hashed, looked up or stored (``fold``): Unicode
NFKC, so the full-width digits and letters a Chinese input method types (``３``, ``Ｘ``) and other
compatibility forms (``²``) become their ASCII characters; spaces (also the ideographic space) are
dropped and letters made capitals. Anything that is still not a printable ASCII character (an
Arabic-Indic digit, which ``str.isdigit()`` accepts; a NUL; a zero-width space) is refused with a
message naming it. So one number has one spelling, one lookup hash and one row, however it was typed,
and every validator answers bad input with ``IdentifierError``, never another exception.
"""

import re
import unicodedata
from datetime import date

from flask_babel import gettext as _

from ..core import clock
from ..core.errors import InvalidInput
from .regions import PROVINCES

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


_MAX_TYPED = 64  # longer input is no identifier; refused before any Unicode work
_MAX_EMAIL = 254
_SPACES = re.compile(r"\s+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class IdentifierError(ValueError):
    """An identifier failed validation; the message says what to fix."""


def _shown(ch: str) -> str:
    return f"“{ch}”" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def fold(raw: str | None, label: str, *, drop: str = "") -> str:
    """``raw`` as printable ASCII capitals without spaces (and without the characters in ``drop``),
    after NFKC; raises IdentifierError naming the first characters that cannot be part of ``label``."""
    raw = raw or ""
    if len(raw) > _MAX_TYPED:
        raise IdentifierError(_("%(label)s过长（%(n)s 个字符），请核对后重新输入。", label=label, n=len(raw)))
    value = _SPACES.sub("", unicodedata.normalize("NFKC", raw))
    for ch in drop:
        value = value.replace(ch, "")
    bad = list(dict.fromkeys(ch for ch in value if not ("!" <= ch <= "~")))
    if bad:
        raise IdentifierError(_("%(label)s含有无法识别的字符：%(chars)s。请用数字和英文字母（全角、半角均可）重新输入，不要粘贴其他符号。",
                                label=label, chars=_("、").join(_shown(ch) for ch in bad[:3])))
    return value.upper()


def lookup_code(raw: str | None, label: str, *, field: str | None = None) -> str:
    """A code typed to find something (a unit's credit code, a course code), folded like stored ones
    (full-width digits and letters are the same code); characters no code has are a clear error."""
    try:
        return fold(raw, label)
    except IdentifierError as exc:
        raise InvalidInput(str(exc), field=field) from None


def id_number_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalize_id_number(raw: str, *, today: date | None = None) -> str:
    """Return the 18-character ID number in canonical form, or raise IdentifierError."""
    value = fold(raw, _("身份证号"))
    if len(value) != 18:
        raise IdentifierError(_("身份证号应为 18 位，您输入了 %(n)s 位。", n=len(value)))
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):  # ASCII only after fold
        raise IdentifierError(_("身份证号前 17 位应为数字，最后一位为数字或字母 X。"))
    if value[:2] + "0000" not in PROVINCES:
        raise IdentifierError(_("身份证号前两位不是有效的省级行政区划代码，请核对。"))
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdentifierError(_("身份证号中的出生日期（第 7–14 位）不是有效日期，请核对。")) from None
    today = today or clock.now().date()
    if birth > today or birth.year < 1900:
        raise IdentifierError(_("身份证号中的出生日期（第 7–14 位）不在合理范围内，请核对。"))
    if id_number_check_char(value[:17]) != value[17]:
        raise IdentifierError(_("身份证号校验码（最后一位）不正确，请逐位核对是否有输错。"))
    return value


def mask_id_number(value: str) -> str:
    """1101**********123X: region prefix and the last four characters only."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def credit_code_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def normalize_credit_code(raw: str) -> str:
    """Return the 18-character unified social credit code, or raise IdentifierError."""
    value = fold(raw, _("统一社会信用代码"))
    if len(value) != 18:
        raise IdentifierError(_("统一社会信用代码应为 18 位，您输入了 %(n)s 位。", n=len(value)))
    bad = sorted({c for c in value if c not in _USCC_CHARS})
    if bad:
        raise IdentifierError(
            _("统一社会信用代码含有不允许的字符：%(chars)s（代码不使用 I、O、S、V、Z）。", chars=_("、").join(bad))
        )
    if not value[2:8].isdigit():
        raise IdentifierError(_("统一社会信用代码第 3–8 位应为登记管理机关行政区划码（数字）。"))
    if credit_code_check_char(value[:17]) != value[17]:
        raise IdentifierError(_("统一社会信用代码校验码（最后一位）不正确，请逐位核对。"))
    return value


def normalize_mobile(raw: str) -> str:
    """An 11-digit mainland mobile number (spaces and hyphens between the digits are ignored)."""
    value = fold(raw, _("手机号"), drop="-")
    if not _MOBILE.fullmatch(value):
        raise IdentifierError(_("手机号应为 11 位中国大陆手机号码。"))
    return value


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalize_email(raw: str | None) -> str | None:
    """An e-mail address as stored and looked up: NFKC (a full-width ``＠`` is ``@``), lower case;
    None when empty. Raises IdentifierError when it is not an address."""
    raw = (raw or "").strip()
    if len(raw) > _MAX_EMAIL:
        raise IdentifierError(_("电子邮箱最多 %(_MAX_EMAIL)s 个字符。", _MAX_EMAIL=_MAX_EMAIL))
    value = unicodedata.normalize("NFKC", raw).strip().lower()
    if not value:
        return None
    if len(value) > _MAX_EMAIL or not value.isprintable() or not _EMAIL.fullmatch(value):
        raise IdentifierError(_("电子邮箱格式不正确。"))
    return value
