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
        ("1,500.00", "USD", 150_000),
        ("12,345", "USD", 1_234_500),
        ("1,234,567.89", "USD", 123_456_789),
        ("  7.5 ", "USD", 750),
        ("USD 5", "USD", 500),
        ("0.01", "USD", 1),
        ("007", "USD", 700),
        ("¥1,200", "JPY", 1200),
        ("999,999,999,999,999.99", "USD", 99_999_999_999_999_999),
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


COMMA = "a ',' only separates groups of three digits (1,500.00), and the decimal point is '.'."


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        # "," anywhere but between groups of three before the point ("1,50" once meant 150.00).
        ("1,50", f"'1,50' is not an amount: {COMMA}"),
        ("1,5000", f"'1,5000' is not an amount: {COMMA}"),
        (",500", f"',500' is not an amount: {COMMA}"),
        ("1,500,00", f"'1,500,00' is not an amount: {COMMA}"),
        ("1500,000", f"'1500,000' is not an amount: {COMMA}"),
        ("1.500,00", f"'1.500,00' is not an amount: {COMMA}"),
        ("1,,500", f"'1,,500' is not an amount: {COMMA}"),
        # Digits other than ASCII 0-9, which str.isdigit(), int() and Decimal() all accept.
        ("١٢", "'١٢' is not an amount: type the digits 0-9."),
        ("۱۲.۵۰", "'۱۲.۵۰' is not an amount: type the digits 0-9."),
        ("１２", "'１２' is not an amount: type the digits 0-9."),
        ("1２.50", "'1２.50' is not an amount: type the digits 0-9."),
        ("१२", "'१२' is not an amount: type the digits 0-9."),
        # Signs, exponents, special values, separators Python's parsers take.
        ("+5", "'+5' is not an amount."),
        ("-5", "The amount must be greater than zero."),
        ("-0.01", "The amount must be greater than zero."),
        ("--", "'--' is not an amount."),
        ("1e999999999", "'1e999999999' is not an amount."),
        ("1E2", "'1E2' is not an amount."),
        ("NaN", "'NaN' is not an amount."),
        ("sNaN", "'sNaN' is not an amount."),
        ("inf", "'inf' is not an amount."),
        ("-Infinity", "'-Infinity' is not an amount."),
        ("1_000", "'1_000' is not an amount."),
        ("0x10", "'0x10' is not an amount."),
        ("1 000", "'1 000' is not an amount."),
        ("1\u00a0000", "'1\\xa0000' is not an amount."),
        ("12 .50", "'12 .50' is not an amount."),
        ("1.2.3", "'1.2.3' is not an amount."),
        ("5.", "'5.' is not an amount."),
        (".5", "'.5' is not an amount."),
        ("\x1b[2J5", "'\\x1b[2J5' is not an amount."),
        ("", "An amount is needed, like 12.50."),
        ("   ", "An amount is needed, like 12.50."),
        ("0", "The amount must be greater than zero."),
        ("0.00", "The amount must be greater than zero."),
        ("0,000", "The amount must be greater than zero."),
        ("12.345", "USD amounts have at most 2 decimal places; '12.345' has more."),
        ("12.500", "USD amounts have at most 2 decimal places; '12.500' has more."),
        ("1" * 16, f"'{'1' * 16}' is too large to be an amount."),
        ("9" * 5000, f"'{'9' * 39}…' is too large to be an amount."),
    ],
)
def test_only_ascii_digits_one_point_and_grouped_commas_are_amounts(text, sentence):
    with pytest.raises(InputError) as caught:
        parse_amount(text, "USD")
    assert caught.value.message == sentence


def test_an_amount_that_is_not_text_is_refused_with_the_sentence_of_an_empty_one():
    # argparse turns ``--amount=--`` into an empty list.
    with pytest.raises(InputError, match=r"^An amount is needed, like 12\.50\.$"):
        parse_amount([], "USD")  # type: ignore[arg-type]


def test_zero_is_an_amount_only_where_allowed():
    assert parse_amount("0", "USD", allow_zero=True) == 0
    assert parse_amount("0.00", "KWD", allow_zero=True) == 0
    with pytest.raises(InputError, match="greater than zero"):
        parse_amount("-1", "USD", allow_zero=True)
