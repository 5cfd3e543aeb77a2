"""Identifiers typed on any keyboard: full-width and other compatibility forms fold (NFKC) to the same
ASCII value and the same lookup hash; any other input is refused with a message, never an exception.

Property tests with arbitrary Unicode: every validator either returns a normalized ASCII value that
validates again unchanged, or raises its own validation error.
"""

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lms.accounts import crypto
from lms.accounts.identifiers import (
    IdentifierError,
    id_number_check_char,
    normalize_credit_code,
    normalize_email,
    normalize_id_number,
    normalize_mobile,
)
from lms.certificates import numbers

VALID_ID = "11010519491231002X"
VALID_CODE = "91350100M000100Y43"
VALID_MOBILE = "13912345678"
VALID_CERT = "GX20260000017"

# Forms NFKC folds to the ASCII character: full-width (Chinese IME), superscript, mathematical digits.
_VARIANTS = {
    **{d: [chr(0xFF10 + i), "⁰¹²³⁴⁵⁶⁷⁸⁹"[i], chr(0x1D7CE + i), chr(0x1D7EC + i)] for i, d in enumerate(string.digits)},
    **{c: [chr(0xFF21 + i), chr(0xFF41 + i), c.lower()] for i, c in enumerate(string.ascii_uppercase)},
}
_SPACES = ["", "", "", " ", "\u3000", "\t"]  # the ideographic space is what a Chinese IME types


def typed_like(value: str):
    """The same identifier as a person might type or paste it: any mix of widths, spaces around."""
    return st.tuples(*[st.sampled_from([ch, *_VARIANTS.get(ch, [])]) for ch in value],
                     st.sampled_from(_SPACES), st.sampled_from(_SPACES)
                     ).map(lambda parts: parts[-2] + "".join(parts[:-2]) + parts[-1])


def full_width(value: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in value)


def test_the_reported_number_folds_to_the_ascii_one():
    assert normalize_id_number("31010419590206７308") == "310104195902067308"
    assert normalize_id_number(full_width(VALID_ID.lower())) == VALID_ID
    assert normalize_credit_code(full_width(VALID_CODE)) == VALID_CODE
    assert normalize_mobile("１３９ １２３４ ５６７８") == VALID_MOBILE
    assert numbers.parse(full_width("gx-2026-000001-7")) == VALID_CERT


def test_superscript_digit_is_a_validation_error_not_a_crash():
    # The reported 500: int("²") raised ValueError inside the check-digit computation.
    with pytest.raises(IdentifierError, match="校验码"):
        normalize_id_number("11010519491231²00X")


@pytest.mark.parametrize("typed", ["11010519491231002٣", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "11010519491231002X\x00",
                                   "1101051949123100\u200b2X"])
def test_digits_that_are_not_ascii_after_folding_are_refused(typed):
    # Arabic-Indic digits pass str.isdigit() but are no ID number character; a NUL or zero-width
    # character is not something to hash or store.
    with pytest.raises(IdentifierError, match="字符"):
        normalize_id_number(typed)


@given(typed_like(VALID_ID))
@example(full_width(VALID_ID))
def test_any_width_of_a_valid_id_number_is_the_same_number(app, typed):
    assert normalize_id_number(typed) == VALID_ID
    with app.app_context():
        assert crypto.lookup_hash(normalize_id_number(typed)) == crypto.lookup_hash(VALID_ID)


@given(typed_like(VALID_CODE))
def test_any_width_of_a_valid_credit_code_is_the_same_code(typed):
    assert normalize_credit_code(typed) == VALID_CODE


@given(typed_like(VALID_MOBILE))
def test_any_width_of_a_mobile_number_is_the_same_number(typed):
    assert normalize_mobile(typed) == VALID_MOBILE


@given(typed_like(VALID_CERT))
def test_any_width_of_a_certificate_number_is_the_same_number(typed):
    assert numbers.parse(typed) == VALID_CERT
    assert numbers.normalize(typed) == VALID_CERT


def _ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


# Arbitrary text, and text close to a valid value (one character replaced by anything), so the
# checks past the character test are reached too.
def near(value: str):
    return st.tuples(st.integers(0, len(value) - 1), st.text(max_size=3)).map(
        lambda t: value[:t[0]] + t[1] + value[t[0] + 1:])


@settings(max_examples=400)
@given(st.one_of(st.text(), st.text(alphabet=string.digits + "Xx²³¹٣０１９Ｘ \u3000", max_size=20), near(VALID_ID)))
@example("11010519491231²00X")
@example("1101051949123100²X")
@example("110105¹⁹⁴⁹1231002X")
def test_id_number_validator_never_raises_anything_else(typed):
    try:
        value = normalize_id_number(typed)
    except IdentifierError as exc:
        assert str(exc)
    else:
        assert len(value) == 18 and _ascii(value) and value[:17].isdigit()
        assert value[17] == id_number_check_char(value[:17])
        assert normalize_id_number(value) == value


@settings(max_examples=400)
@given(st.one_of(st.text(), near(VALID_CODE)))
def test_credit_code_validator_never_raises_anything_else(typed):
    try:
        value = normalize_credit_code(typed)
    except IdentifierError as exc:
        assert str(exc)
    else:
        assert len(value) == 18 and _ascii(value) and normalize_credit_code(value) == value


@settings(max_examples=400)
@given(st.one_of(st.text(), near(VALID_MOBILE)))
def test_mobile_validator_never_raises_anything_else(typed):
    try:
        value = normalize_mobile(typed)
    except IdentifierError as exc:
        assert str(exc)
    else:
        assert len(value) == 11 and value.isdigit() and _ascii(value) and normalize_mobile(value) == value


@settings(max_examples=400)
@given(st.one_of(st.text(), near(VALID_CERT)))
def test_certificate_number_parser_never_raises_anything_else(typed):
    cleaned = numbers.normalize(typed)
    assert cleaned.isprintable()  # what the lookup and the audit log receive: no NUL, no control characters
    try:
        value = numbers.parse(typed)
    except numbers.NumberError as exc:
        assert exc.reason in {"format", "check"} and exc.message
    else:
        assert _ascii(value) and numbers.is_valid(value) and numbers.parse(value) == value


@settings(max_examples=300)
@given(st.one_of(st.text(), st.emails().map(full_width)))
@example("Li.Hua＠Example.org")
@example("a@b.c\x00")
def test_email_normalizer_never_raises_anything_else(typed):
    try:
        value = normalize_email(typed)
    except IdentifierError as exc:
        assert str(exc)
    else:
        assert value is None or (value.isprintable() and "@" in value and normalize_email(value) == value)


def test_full_width_email_is_the_same_address():
    assert normalize_email(" Li.Hua＠Ｅxample.org ") == "li.hua@example.org"


def test_issuer_code_is_checked_whole():
    assert numbers.valid_issuer("GX") and numbers.valid_issuer("HRB44")
    assert not numbers.valid_issuer("GX\n") and not numbers.valid_issuer("ＧＸ") and not numbers.valid_issuer("G")


def test_codes_typed_to_find_something_fold_like_stored_ones(ctx, db_session, make_user):
    """Lookups by credit code (exports, the unit pages, the CLI) and course codes take full-width input
    too, and a character no code has is a clear error, not a silent miss."""
    from lms.core.errors import InvalidInput
    from lms.exports.records import organization_by_code

    org = make_user().employer
    assert organization_by_code(full_width(org.credit_code.lower())) == org
    with pytest.raises(InvalidInput, match="无法识别的字符"):
        organization_by_code(org.credit_code[:-1] + "\u200b")
