"""Money: integer minor units with an ISO-4217 currency. No floats anywhere money flows.

This module is the one place that parses and formats amounts.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.errors import InputError

# Exponent (digits after the decimal point) per currency.
EXPONENTS: dict[str, int] = {
    "INR": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
}

SYMBOLS: dict[str, str] = {
    "INR": "₹",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
}


def exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency``; unknown currencies are refused."""
    try:
        return EXPONENTS[currency.upper()]
    except KeyError:
        raise InputError(f"{currency!r} is not a currency Paydesk knows.") from None


def parse_amount(text: str, currency: str) -> int:
    """Turn what a person typed ("12.50", "1,250") into minor units of ``currency``.

    Refuses zero, negatives, non-numbers and more decimals than the currency allows.
    """
    exp = exponent(currency)
    cleaned = text.strip().replace(",", "").replace("_", "")
    for symbol in (SYMBOLS.get(currency.upper(), ""), currency.upper()):
        if symbol and cleaned.startswith(symbol):
            cleaned = cleaned[len(symbol) :].strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InputError(f"{text.strip() or 'An empty amount'!r} is not an amount.") from None
    if not value.is_finite():
        raise InputError(f"{text.strip()!r} is not an amount.")
    if value <= 0:
        raise InputError("The amount must be greater than zero.")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        if exp == 0:
            raise InputError(f"{currency.upper()} has no minor unit; enter a whole amount.")
        raise InputError(
            f"{currency.upper()} amounts have at most {exp} decimal places; {text.strip()!r} has more."
        )
    return int(minor)


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as an exact Decimal in major units (for CSV and JSON consumers)."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_money(amount: int, currency: str, *, symbol: bool = True) -> str:
    """The one formatting function: ``₹1,234.50``, ``¥1,200``, ``KWD 1.250``, ``-$3.00``."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    number = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    if not symbol:
        return f"{sign}{number}"
    sym = SYMBOLS.get(currency.upper())
    if sym:
        return f"{sign}{sym}{number}"
    return f"{sign}{currency.upper()} {number}"
