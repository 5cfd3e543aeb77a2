"""Certificate numbers (证书编号): issuer code + year + sequence + one check character.

Format: ``ISSUER`` (2–6 capital letters or digits, ``LMS_CERT_ISSUER_CODE``, default ``GX``), the
four-digit year, a six-digit sequence within issuer and year, and one check character, e.g.
``GX2026000001`` + check → ``GX20260000017`` (the first number ``GX`` issues in 2026). What people
type is folded first (Unicode NFKC, so the full-width ``ＧＸ２０２６…`` of a Chinese input method is
the same number), spaces and hyphens are ignored and letters are folded to capitals.

The check character follows ISO/IEC 7064 MOD 37-2 (pure system, modulus 37, radix 2) over the
alphabet ``0-9 A-Z *``. We use the pure system rather than the hybrid MOD 37,36: the hybrid one
misses some adjacent transpositions of digits (e.g. ``GX20261012767`` ↔ ``GX20260112767``), while
MOD 37-2 provably detects every single-character substitution and every adjacent transposition (37
is prime and the weights 2^k mod 37 are distinct and non-zero). Its 37th symbol ``*`` is awkward
to read aloud and to put in links, so sequences whose check character would be ``*`` are skipped
when numbers are allocated; every issued number is letters and digits only.

Computing the check character: start with p = 0; for each character c of the number without its
check character, p = ((p + value(c)) × 2) mod 37, where value is the character's index in
``0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*``; the check character is the one whose value is
(38 − p mod 37) mod 37. A number is valid when recomputing gives its last character.

Sequence ``000000`` is reserved for examples and never issued (allocation starts at 1 and
:func:`compose` refuses 0): the example shown to people, :data:`EXAMPLE` (``GX20260000009``), is a
well-formed number with a correct check character, so it passes the format and check tests, yet it can
never be anyone's certificate, whatever the issuer code or year; the verification page says so.

A number re-issued (new PDF after a correction) keeps its number: the number identifies the
certificate, the PDF hash identifies the file.
"""

import re
import unicodedata

from flask_babel import gettext as _

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_SHAPE = re.compile(r"^([A-Z0-9]{2,6}?)(\d{4})(\d{6})([0-9A-Z*])$")
_ISSUER = re.compile(r"[A-Z][A-Z0-9]{1,5}")


class NumberError(ValueError):
    """A number that cannot be a certificate number; ``reason`` is 'format' or 'check'."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_char(body: str) -> str:
    p = 0
    for ch in body:
        if ch not in _VALUES or ch == "*":
            raise ValueError(f"not allowed in a certificate number: {ch!r}")
        p = ((p + _VALUES[ch]) * 2) % 37
    return ALPHABET[(38 - p) % 37]


def is_valid(number: str) -> bool:
    try:
        return len(number) > 1 and check_char(number[:-1]) == number[-1]
    except ValueError:
        return False


def valid_issuer(code: str) -> bool:
    return bool(_ISSUER.fullmatch(code))  # fullmatch: "$" alone would let a trailing newline through


def compose(issuer: str, year: int, sequence: int) -> str | None:
    """The full number, or None when its check character would be ``*`` (that sequence is skipped).
    Sequence 0 is the reserved example sequence and is refused here."""
    if not 1 <= sequence <= 999_999:
        raise ValueError(f"certificate sequence out of range 1-999999: {sequence}")
    return _with_check(f"{issuer}{year:04d}{sequence:06d}")


def _with_check(body: str) -> str | None:
    check = check_char(body)
    return None if check == "*" else body + check


EXAMPLE_SEQUENCE = "000000"
EXAMPLE = _with_check(f"GX2026{EXAMPLE_SEQUENCE}")  # GX20260000009: well formed, never issued


def is_example(number: str) -> bool:
    """A number of the reserved example sequence (any issuer, any year)."""
    match = _SHAPE.match(number)
    return bool(match) and match.group(3) == EXAMPLE_SEQUENCE


def normalize(text: str) -> str:
    """What was typed, folded for a lookup: NFKC, no spaces or hyphens, capitals. Characters that
    are not printable (NUL, other control characters) become U+FFFD, so the text is safe to query
    and to log, and can match no number."""
    folded = re.sub(r"[\s\-—_]+", "", unicodedata.normalize("NFKC", (text or "")[:200]))
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in folded).upper()


def parse(text: str) -> str:
    """A cleaned, checked number; raises NumberError with a message for the visitor."""
    number = normalize(text)
    if not number:
        raise NumberError("format", _("请输入证书编号。"))
    if len(number) > 24 or not re.fullmatch(r"[A-Z0-9*]+", number) or not _SHAPE.match(number):
        raise NumberError("format", _("编号格式不正确：证书编号由发证机构代码、4 位年份、6 位序号和 1 位校验码组成，如 %(example)s。",
                                     example=EXAMPLE))
    if not is_valid(number):
        raise NumberError("check", _("编号校验位不正确，可能有输错，请逐位核对证书上的编号。"))
    return number
