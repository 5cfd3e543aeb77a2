from datetime import date

import pytest

from lms.accounts.identifiers import (
    IdentifierError,
    credit_code_check_char,
    id_number_check_char,
    mask_id_number,
    normalize_credit_code,
    normalize_id_number,
)

# Published examples: the GB 11643 sample number and a credit code with a letter check character.
VALID_IDS = ["11010519491231002X", "110101190001011009", "44052419800101001" + id_number_check_char("44052419800101001")]
VALID_CODES = ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_id_numbers_pass(value):
    assert normalize_id_number(value) == value


def test_id_number_is_normalized():
    assert normalize_id_number(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize("value, reason", [
    ("11010519491231002", "18 位"),
    ("1101051949123100211", "18 位"),
    ("11010519491231002Y", "前 17 位"),
    ("1101051949123A002X", "前 17 位"),
    ("990105194912310021", "省级行政区划"),
    ("110105194902300029", "出生日期"),  # 30 February
    ("110105194913010021", "出生日期"),  # month 13
    ("110105189912310021", "合理范围"),  # before 1900
    ("110105194912310021", "校验码"),
])
def test_invalid_id_numbers_say_why(value, reason):
    with pytest.raises(IdentifierError, match=reason):
        normalize_id_number(value)


def test_id_number_birth_date_in_future_is_refused():
    with pytest.raises(IdentifierError, match="合理范围"):
        normalize_id_number("110105" + "20300101" + "001" + id_number_check_char("11010520300101001"),
                            today=date(2026, 11, 28))


def test_every_single_digit_error_in_an_id_number_is_caught():
    base = "11010519491231002X"
    for position in range(17):
        for digit in "0123456789":
            if digit == base[position]:
                continue
            changed = base[:position] + digit + base[position + 1:]
            with pytest.raises(IdentifierError):
                normalize_id_number(changed)


def test_check_character_x_stands_for_ten():
    assert id_number_check_char("11010519491231002") == "X"


def test_leap_day_birth_dates():
    leap = "11010519960229" + "001"
    assert normalize_id_number(leap + id_number_check_char(leap))
    not_leap = "11010519970229" + "001"
    with pytest.raises(IdentifierError, match="出生日期"):
        normalize_id_number(not_leap + id_number_check_char(not_leap))


def test_mask_keeps_region_prefix_and_last_four():
    assert mask_id_number("11010519491231002X") == "1101**********002X"


@pytest.mark.parametrize("value", VALID_CODES)
def test_valid_credit_codes_pass(value):
    assert normalize_credit_code(value.lower()) == value


@pytest.mark.parametrize("value, reason", [
    ("91350100M000100Y4", "18 位"),
    ("91350100M000100Y44", "校验码"),
    ("91350100M000I00Y43", "不允许的字符"),  # I is never used
    ("9135A100M000100Y43", "行政区划码"),
])
def test_invalid_credit_codes_say_why(value, reason):
    with pytest.raises(IdentifierError, match=reason):
        normalize_credit_code(value)


def test_every_single_character_error_in_a_credit_code_is_caught():
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    base = "91350100M000100Y43"
    for position in range(18):
        for char in alphabet:
            if char == base[position]:
                continue
            changed = base[:position] + char + base[position + 1:]
            with pytest.raises(IdentifierError):
                normalize_credit_code(changed)


def test_credit_code_check_can_be_zero():
    # Find a body whose check character is "0" and make sure it validates.
    for n in range(1000):
        body = f"91110105MA01{n:05d}"
        if credit_code_check_char(body) == "0":
            assert normalize_credit_code(body + "0") == body + "0"
            return
    pytest.fail("no body with check character 0 in range")
