"""Institution codes (lms/programme/institution_codes.py): the documented worked example, every
single-character error and adjacent transposition refused, folding of what people type, and each
kind of malformed text refused with its reason."""

import random

import pytest

from lms.certificates.numbers import ALPHABET
from lms.programme import institution_codes as codes


def sample_codes(count=300) -> list[str]:
    rng = random.Random(37)
    found = []
    while len(found) < count:
        code = codes.compose(rng.choice(codes.KINDS), rng.choice(["110000", "440000", "310000", "650000"]),
                             rng.randint(1, 9999))
        if code:
            found.append(code)
    return found


def _valid(text: str) -> bool:
    try:
        codes.parse(text)
    except codes.CodeError:
        return False
    return True


def test_the_documented_examples():
    assert codes.compose("T", "110000", 1) == "T1100000001A"
    assert codes.EXAMPLE == "T1100000000C"
    assert codes.parse(" t-110000 0001-a ") == "T1100000001A"
    full_width = "T1100000001A".translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})  # as a Chinese IME types it
    assert full_width != "T1100000001A" and codes.parse(full_width) == "T1100000001A"
    assert len(codes.compose("E", "440000", 9999) or "E4400009999X") == 12


def test_every_single_character_error_is_detected():
    for code in sample_codes():
        assert _valid(code)
        for i, original in enumerate(code):
            for ch in ALPHABET:
                if ch != original:
                    assert not _valid(code[:i] + ch + code[i + 1:]), (code, i, ch)


def test_every_adjacent_transposition_is_detected():
    for code in sample_codes():
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                assert not _valid(code[:i] + code[i + 1] + code[i] + code[i + 2:]), (code, i)


def test_no_assigned_code_ends_in_a_star():
    skipped = [n for n in range(1, 400) if codes.compose("T", "110000", n) is None]
    assert skipped and all("*" not in (codes.compose("T", "110000", n) or "") for n in range(1, 400))


@pytest.mark.parametrize(("typed", "reason"), [
    ("", "format"), ("T110000", "format"), ("X1100000001A", "format"), ("T11000000001A", "format"),
    ("T1100000001A!", "format"), ("T110000000AA", "format"), ("T1100000001B", "check"), ("T1100000010A", "check"),
])
def test_malformed_codes_are_refused_with_their_reason(typed, reason):
    with pytest.raises(codes.CodeError) as refused:
        codes.parse(typed)
    assert refused.value.reason == reason and refused.value.message


@pytest.mark.parametrize(("kind", "region", "sequence"), [("X", "110000", 1), ("T", "11000", 1), ("T", "110000", 0),
                                                          ("T", "110000", 10000)])
def test_compose_refuses_what_cannot_be_a_code(kind, region, sequence):
    with pytest.raises(ValueError):
        codes.compose(kind, region, sequence)
