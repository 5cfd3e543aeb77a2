"""National identifiers: resident ID numbers (GB 11643) and unified social credit codes (GB 32100)."""

from datetime import date

from ..core import clock
from .regions import PROVINCES

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class IdentifierError(ValueError):
    """An identifier failed validation; the message says what to fix."""


def id_number_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalize_id_number(raw: str, *, today: date | None = None) -> str:
    """Return the 18-character ID number in canonical form, or raise IdentifierError."""
    value = (raw or "").strip().replace(" ", "").upper()
    if len(value) != 18:
        raise IdentifierError(f"身份证号应为 18 位，您输入了 {len(value)} 位。")
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise IdentifierError("身份证号前 17 位应为数字，最后一位为数字或字母 X。")
    if value[:2] + "0000" not in PROVINCES:
        raise IdentifierError("身份证号前两位不是有效的省级行政区划代码，请核对。")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdentifierError("身份证号中的出生日期（第 7–14 位）不是有效日期，请核对。") from None
    today = today or clock.now().date()
    if birth > today or birth.year < 1900:
        raise IdentifierError("身份证号中的出生日期（第 7–14 位）不在合理范围内，请核对。")
    if id_number_check_char(value[:17]) != value[17]:
        raise IdentifierError("身份证号校验码（最后一位）不正确，请逐位核对是否有输错。")
    return value


def mask_id_number(value: str) -> str:
    """1101**********123X: region prefix and the last four characters only."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def credit_code_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def normalize_credit_code(raw: str) -> str:
    """Return the 18-character unified social credit code, or raise IdentifierError."""
    value = (raw or "").strip().replace(" ", "").upper()
    if len(value) != 18:
        raise IdentifierError(f"统一社会信用代码应为 18 位，您输入了 {len(value)} 位。")
    bad = sorted({c for c in value if c not in _USCC_CHARS})
    if bad:
        raise IdentifierError(
            f"统一社会信用代码含有不允许的字符：{'、'.join(bad)}（代码不使用 I、O、S、V、Z）。"
        )
    if not value[2:8].isdigit():
        raise IdentifierError("统一社会信用代码第 3–8 位应为登记管理机关行政区划码（数字）。")
    if credit_code_check_char(value[:17]) != value[17]:
        raise IdentifierError("统一社会信用代码校验码（最后一位）不正确，请逐位核对。")
    return value
