"""Institution codes (机构代码, the "赋码" of seed 五(二)) of the digital-technology engineer
programme's training and evaluation institutions.

Format: one kind letter (``T`` a training institution 培训机构, ``E`` an evaluation institution
评价机构), the six-digit region code (GB/T 2260) of the region that listed it, a four-digit
sequence within kind and region, and one check character: 12 characters, e.g. ``T`` + ``110000``
+ ``0001`` + check ``A`` → ``T1100000001A``, the first training institution listed in 北京. What people type is folded first (Unicode
NFKC, so full-width ``Ｔ１１…`` is the same code), spaces and hyphens are ignored and letters are
folded to capitals, as for certificate numbers.

The check character is ISO/IEC 7064 MOD 37-2 over ``0-9 A-Z *``, the same rule and code as
certificate numbers (:func:`lms.certificates.numbers.check_char`, whose docstring explains why the
pure system): it detects every single-character substitution and every adjacent transposition.
Sequences whose check character would be ``*`` are skipped when codes are assigned, so every code
is letters and digits only. Sequence ``0000`` is reserved for :data:`EXAMPLE` and never assigned.

Worked example, ``T1100000001``: p = 0; T (value 29): p = (0 + 29) × 2 mod 37 = 21; 1: (21 + 1) × 2
mod 37 = 7; 1: 16; then seven 0s: 32, 27, 17, 34, 31, 25, 13; 1: 28. The check value is (38 − 28)
mod 37 = 10, the character ``A``: ``T1100000001A``. :data:`EXAMPLE` is ``T1100000000C``.
A code is assigned once and never reused, also when its institution is suspended.
"""

import re
import unicodedata

from flask_babel import gettext as _

from ..certificates.numbers import check_char

KINDS = ("T", "E")
# ASCII digits only: ``\d`` alone also takes other scripts' digits (Arabic-Indic ``١``, Devanagari ``१``),
# which NFKC does not fold and the check character cannot be computed over.
_SHAPE = re.compile(r"([TE])([0-9]{6})([0-9]{4})([0-9A-Z*])")
EXAMPLE_SEQUENCE = 0


class CodeError(ValueError):
    """Text that cannot be an institution code; ``reason`` is 'format' or 'check'."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _with_check(body: str) -> str | None:
    check = check_char(body)
    return None if check == "*" else body + check


def compose(kind: str, region_code: str, sequence: int) -> str | None:
    """The full code, or None when its check character would be ``*`` (that sequence is skipped)."""
    if kind not in KINDS:
        raise ValueError(f"institution kind letter must be T or E: {kind!r}")
    if not re.fullmatch(r"\d{6}", region_code or ""):
        raise ValueError(f"region code must be six digits: {region_code!r}")
    if not 1 <= sequence <= 9999:
        raise ValueError(f"institution sequence out of range 1-9999: {sequence}")
    return _with_check(f"{kind}{region_code}{sequence:04d}")


EXAMPLE = _with_check(f"T110000{EXAMPLE_SEQUENCE:04d}")  # well formed, never assigned


def normalize(text: str) -> str:
    folded = re.sub(r"[\s\-—_]+", "", unicodedata.normalize("NFKC", (text or "")[:100]))
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in folded).upper()


def looks_like_code(text: str) -> bool:
    """Whether a search box's text is meant as a code (a kind letter and digits), right or wrong."""
    return bool(re.fullmatch(r"[TE]\d{6,12}[0-9A-Z*]?", normalize(text)))  # other digits too: told why


def parse(text: str) -> str:
    """A cleaned, checked code; raises :class:`CodeError` with a message for the person who typed it."""
    code = normalize(text)
    if not code:
        raise CodeError("format", _("请输入机构代码。"))
    if not _SHAPE.fullmatch(code):
        raise CodeError("format", _("机构代码格式不正确：机构代码由类别字母（T 培训机构、E 评价机构）、6 位地区代码、4 位序号和 1 位校验码组成，如 %(example)s。",
                                    example=EXAMPLE))
    if check_char(code[:-1]) != code[-1]:
        raise CodeError("check", _("机构代码校验位不正确，可能有输错，请逐位核对。"))
    return code
