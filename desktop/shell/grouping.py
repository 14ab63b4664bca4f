"""How rupee amounts are grouped on screen: Indian (₹1,00,000.00, lakh and crore on chart axes)
or Western (₹100,000.00, K and M), the same in every table, tile and axis.

The choice is ``locale`` (Indian where the person's locale is India's, else Western),
``indian`` or ``western``; it is kept in the settings file as ``inr_grouping`` and set with
View → Rupee grouping. ``core.money`` does the formatting; this module only decides.
"""

from __future__ import annotations

from PySide6.QtCore import QLocale

from core import money, settings
from core.errors import InputError

CHOICES = ("locale", "indian", "western")


def saved_choice() -> str:
    try:
        value = settings.load().extra.get("inr_grouping")
    except InputError:
        return "locale"
    return value if isinstance(value, str) and value in CHOICES else "locale"


def from_locale(locale: QLocale | None = None) -> str:
    """``indian`` for a locale of India (en_IN, hi_IN, …), else ``western``."""
    loc = locale or QLocale()
    return "indian" if loc.territory() == QLocale.Country.India else "western"


def style_for(choice: str, locale: QLocale | None = None) -> str:
    return from_locale(locale) if choice == "locale" else choice


def apply_saved(locale: QLocale | None = None) -> str:
    """Set ``core.money``'s grouping from the settings file (or the locale); returns it."""
    style = style_for(saved_choice(), locale)
    money.set_inr_grouping(style)
    return style


def choose(choice: str, locale: QLocale | None = None) -> str:
    """Group rupees per ``choice`` from now on and remember it; returns the style in force."""
    if choice not in CHOICES:
        raise InputError(f"{choice!r} is not a grouping; use one of {', '.join(CHOICES)}.")
    style = style_for(choice, locale)
    money.set_inr_grouping(style)
    try:
        current = settings.load()
    except InputError:
        return style  # a settings file that cannot be read is left alone
    current.extra["inr_grouping"] = choice
    settings.save(current)
    return style
