"""The schema revisions this Paydesk ships, read from the migration files' headers
(``revision = ...`` / ``down_revision = ...``) without loading Alembic or SQLAlchemy."""

from __future__ import annotations

import ast
import re

from core import paths

_HEADER = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def known_revisions() -> dict[str, tuple[str, ...]]:
    """Every schema revision this Paydesk ships and the ones it follows, read from the
    migration files' headers (``revision = ...`` / ``down_revision = ...``)."""
    revisions: dict[str, tuple[str, ...]] = {}
    for path in (paths.migrations_dir() / "versions").glob("*.py"):
        found = dict(_HEADER.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        down = ast.literal_eval(found.get("down_revision", "None"))
        revisions[ast.literal_eval(found["revision"])] = (
            () if down is None else (down,) if isinstance(down, str) else tuple(down)
        )
    return revisions


def single_head() -> str | None:
    """The one revision no other follows, or None when the files name several heads."""
    revisions = known_revisions()
    below = {d for downs in revisions.values() for d in downs}
    heads = [r for r in revisions if r not in below]
    return heads[0] if len(heads) == 1 else None
