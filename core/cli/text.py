"""What reaches a terminal: text people wrote, with every control character made visible.

A reason, a note, a merchant's name or an endpoint URL is typed by somebody; printed raw, an
ESC sequence in it recolours or rewrites the terminal, a CR hides what came before it on the
line, a BEL rings, and a bidi override reverses what follows. Every human-readable line the
command line prints goes through ``printable`` (``say`` and ``print_table`` call it); ``--json``
output is left exact (JSON escapes control characters itself).

Kept free of heavy imports: ``paydesk health`` uses it on its fast path.
"""

from __future__ import annotations

import sys
from typing import TextIO

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# C0 controls (newline and tab included: one value is one line, one table cell), DEL, C1
# controls, the bidi embeddings, overrides and isolates, the implicit direction marks and
# the Unicode line and paragraph separators.
_CONTROL_POINTS = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPES: dict[int, str] = {
    cp: _NAMED.get(chr(cp)) or (f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}")
    for cp in _CONTROL_POINTS
}


def printable(text: object) -> str:
    """``text`` as one line that a terminal shows as it is: each control character becomes
    its escape (``\\x1b``, ``\\r``, ``\\n``, ``\\u202e``), everything else is unchanged."""
    return str(text).translate(_ESCAPES)


def say(line: object = "", *, file: TextIO | None = None) -> None:
    """Print one human-readable line, its control characters escaped."""
    print(printable(line), file=file or sys.stdout)
