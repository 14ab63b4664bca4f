"""Money: integer minor units with an ISO-4217 currency. No floats anywhere money flows.

This module is the one place that parses and formats amounts.
"""

from __future__ import annotations

import re
from decimal import Decimal

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


# What an amount may look like once a leading currency symbol or code is taken off: ASCII
# digits, "," only between groups of three digits before the decimal point, at most one ".".
_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]+))?", re.ASCII)
# Rupees may also be grouped the Indian way (1,00,000.00: the last three digits, then pairs),
# as Paydesk writes them under that setting; what it writes it reads back.
_INDIAN = re.compile(
    r"(?P<whole>[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3})(?:\.(?P<frac>[0-9]+))?", re.ASCII
)

# How rupee amounts are grouped: "western" (₹100,000.00) or "indian" (₹1,00,000.00). The app
# sets it once from the settings file or the locale (desktop.shell); the default is western.
GROUPINGS = ("western", "indian")
_grouping = {"INR": "western"}


def set_inr_grouping(style: str) -> None:
    if style not in GROUPINGS:
        raise InputError(f"{style!r} is not a grouping; use one of {', '.join(GROUPINGS)}.")
    _grouping["INR"] = style


def inr_grouping() -> str:
    return _grouping["INR"]


def group_digits(whole: int, currency: str) -> str:
    """``whole`` (not negative) with its group separators: ``1,00,000`` for rupees under the
    Indian grouping, else ``100,000``."""
    if currency.upper() != "INR" or _grouping["INR"] != "indian" or whole < 100_000:
        return f"{whole:,}"
    text = str(whole)
    head, tail = text[:-3], text[-3:]
    pairs: list[str] = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


# At most this many digits before the decimal point (a quadrillion: far above any payment, and
# minor units of every currency stay inside a 64-bit integer).
MAX_WHOLE_DIGITS = 15
_SHOWN = 40


def _shown(text: str) -> str:
    """What the person typed, quoted for a sentence (control characters escaped, shortened)."""
    short = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    return repr(short)


def parse_amount(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """Turn what a person typed ("12.50", "1,250.00") into minor units of ``currency``.

    Accepted: ASCII digits 0-9, at most one "." followed by at most the currency's minor-unit
    digits, and "," only as a thousands separator between groups of three digits before the
    decimal point ("1,500.00", "12,345"); a leading currency symbol or code ("₹3", "USD 5")
    and spaces around the amount are allowed. Everything else is refused with one sentence:
    other digits (Arabic-Indic, fullwidth), signs, exponents, NaN and infinity, spaces inside,
    "1,50", and zero unless ``allow_zero``.
    """
    exp = exponent(currency)
    code = currency.upper()
    if not isinstance(text, str) or not text.strip():
        raise InputError("An amount is needed, like 12.50.")
    shown = _shown(text.strip())
    cleaned = text.strip()
    for symbol in (SYMBOLS.get(code, ""), code):
        if symbol and cleaned.startswith(symbol):
            cleaned = cleaned[len(symbol) :].strip()
            break
    if cleaned.startswith("-") and _AMOUNT.fullmatch(cleaned[1:].strip()):
        raise InputError("The amount must be greater than zero.")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None and code == "INR":
        match = _INDIAN.fullmatch(cleaned)
    if match is None:
        if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in cleaned):
            raise InputError(f"{shown} is not an amount: type the digits 0-9.")
        if "," in cleaned and _AMOUNT.fullmatch(cleaned.replace(",", "")):
            raise InputError(
                f"{shown} is not an amount: a ',' only separates groups of three digits "
                "(1,500.00), and the decimal point is '.'."
            )
        raise InputError(f"{shown} is not an amount.")
    whole = match["whole"].replace(",", "")
    frac = match["frac"] or ""
    if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS:
        raise InputError(f"{shown} is too large to be an amount.")
    if len(frac) > exp:
        if exp == 0:
            raise InputError(f"{code} has no minor unit; enter a whole amount.")
        raise InputError(f"{code} amounts have at most {exp} decimal places; {shown} has more.")
    minor = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if minor < 0 or (minor == 0 and not allow_zero):
        raise InputError("The amount must be greater than zero.")
    return minor


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as an exact Decimal in major units (for CSV and JSON consumers)."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_money(amount: int, currency: str, *, symbol: bool = True) -> str:
    """The one formatting function: ``₹1,234.50``, ``¥1,200``, ``KWD 1.250``, ``-$3.00``."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    number = group_digits(whole, currency) + (f".{frac:0{exp}d}" if exp else "")
    if not symbol:
        return f"{sign}{number}"
    sym = SYMBOLS.get(currency.upper())
    if sym:
        return f"{sign}{sym}{number}"
    return f"{sign}{currency.upper()} {number}"
