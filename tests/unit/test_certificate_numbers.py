"""Certificate numbers: ISO/IEC 7064 MOD 37-2 catches every single-character error and every adjacent
transposition, so a mistyped number is refused before any lookup."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.certificates import numbers

ALPHABET = numbers.ALPHABET


def sample_numbers(count=300):
    rng = random.Random(7064)
    found = []
    while len(found) < count:
        number = numbers.compose(rng.choice(["GX", "GX11", "HRB44"]), rng.randint(2020, 2035), rng.randint(1, 999_999))
        if number:
            found.append(number)
    return found


def test_known_number_and_normalisation():
    assert numbers.compose("GX", 2026, 1) == "GX20260000017"
    assert numbers.parse(" gx-2026 000001-7 ") == "GX20260000017"


def test_every_single_character_error_is_detected():
    for number in sample_numbers():
        for i, original in enumerate(number):
            for ch in ALPHABET:
                if ch != original:
                    assert not numbers.is_valid(number[:i] + ch + number[i + 1:]), (number, i, ch)


def test_every_adjacent_transposition_is_detected():
    for number in sample_numbers():
        for i in range(len(number) - 1):
            if number[i] != number[i + 1]:
                swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
                assert not numbers.is_valid(swapped), (number, swapped)


def test_check_character_never_star_in_issued_numbers():
    skipped = [seq for seq in range(1, 400) if numbers.compose("GX", 2026, seq) is None]
    assert skipped, "some sequences must have '*' as check character"
    assert all("*" not in (numbers.compose("GX", 2026, s) or "") for s in range(1, 400))


@pytest.mark.parametrize("typed, reason", [
    ("", "format"), ("GX2026", "format"), ("GX2026000001!", "format"), ("GX20260000018", "check"),
    ("GX20260000071", "check"),
])
def test_parse_refuses_with_a_reason(typed, reason):
    with pytest.raises(numbers.NumberError) as exc:
        numbers.parse(typed)
    assert exc.value.reason == reason
    if reason == "check":
        assert exc.value.message.startswith("编号校验位不正确，可能有输错")


# ---------------------------------------------------------------- the reserved example

@given(issuer=st.from_regex(r"[A-Z][A-Z0-9]{1,5}", fullmatch=True), year=st.integers(2000, 2100),
       sequence=st.integers(1, 999_999))
def test_the_issuer_never_produces_the_example_number(issuer, year, sequence):
    number = numbers.compose(issuer, year, sequence)
    assert number != numbers.EXAMPLE
    assert number is None or not numbers.is_example(number)


def test_the_example_is_well_formed_but_of_the_reserved_sequence():
    assert numbers.EXAMPLE == "GX20260000009"
    assert numbers.parse(numbers.EXAMPLE) == numbers.EXAMPLE and numbers.is_example(numbers.EXAMPLE)
    with pytest.raises(ValueError):
        numbers.compose("GX", 2026, 0)


def test_allocation_starts_after_the_example(ctx, db_session):
    from lms.certificates import services

    first = services.allocate_number(2031)
    assert first[6:12] == "000001" and not numbers.is_example(first)
