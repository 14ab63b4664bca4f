from __future__ import annotations

import pytest

from core.errors import InputError
from core.money import format_money, parse_amount, to_decimal


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "INR", 1250),
        ("1,250", "INR", 125000),
        ("1200", "JPY", 1200),
        ("1.250", "KWD", 1250),
        ("₹3", "INR", 300),
    ],
)
def test_amounts_parse_to_minor_units_of_their_currency(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "sentence"),
    [
        ("12.345", "INR", "INR amounts have at most 2 decimal places"),
        ("1.5", "JPY", "JPY has no minor unit"),
        ("0", "INR", "greater than zero"),
        ("-5", "USD", "greater than zero"),
        ("abc", "INR", "is not an amount"),
        ("NaN", "INR", "is not an amount"),
        ("5", "XXX", "is not a currency"),
    ],
)
def test_bad_amounts_are_refused_with_one_sentence(text, currency, sentence):
    with pytest.raises(InputError, match=sentence):
        parse_amount(text, currency)


def test_formatting_follows_the_currency_exponent():
    assert format_money(123450, "INR") == "₹1,234.50"
    assert format_money(1200, "JPY") == "¥1,200"
    assert format_money(1250, "KWD") == "KWD 1.250"
    assert format_money(-300, "USD") == "-$3.00"
    assert str(to_decimal(1250, "KWD")) == "1.250"
