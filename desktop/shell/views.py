"""The views the navigation offers. Adding a view is one line in ``VIEWS``.

A factory is ``"module:Class"``; the module is imported when the view is first built, so
startup does not pay for views nobody opened yet. The class is called with the
``AppServices`` and returns a QWidget. A view may define a ``loaded`` signal (emitted when
its first data is on screen; ``--screenshot`` waits for it).

Navigation between views (docs/dashboard.md, "Navigation"): a view asks for another view
narrowed to a *link* (a ``core.payments.queries.PaymentFilter`` or a ``core.overview.dashboard`` link) with
``open_link``. The host sets ``AppServices.navigate(key, link)``; without one, the view's
top-level window's ``open_view(key)`` is used. Either way the target view's
``apply_link(link)``, if it has one, narrows it.

What the shell's menus do to the view on screen (View → Refresh, Edit → Find; see
docs/keyboard.md) comes from what the view already has: ``refresh()`` or ``reload()``, and a
``search`` line edit. ``refresh_of`` and ``search_of`` read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLineEdit, QWidget

    from core.context import Context
    from desktop.shell.runner import TaskRunner


@dataclass
class AppServices:
    """What a view needs: the open database and clock, the pool, and the scheduler (None
    when it could not start)."""

    ctx: Context
    runner: TaskRunner
    scheduler: Any = None
    # desktop.shell.changes.ChangeBridge: coalesced change notices on the UI thread (None in
    # tests that do not need live updates).
    changes: Any = None
    # navigate(view_key, link) -> the view (None: no such view): open that view and hand it
    # ``link`` (see ``open_link``). None here: ``open_link`` uses the window's ``open_view``.
    navigate: Callable[[str, object], QWidget | None] | None = None


@dataclass(frozen=True)
class ViewSpec:
    key: str
    title: str
    icon: str  # a name in resources/icons
    factory: str  # "module:Class"

    def build(self, services: AppServices) -> QWidget:
        module_name, _, class_name = self.factory.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(services)


VIEWS: list[ViewSpec] = [
    ViewSpec("dashboard", "Overview", "dashboard", "desktop.overview.view:DashboardView"),
    ViewSpec("payments", "Payments", "payments", "desktop.payments.view:PaymentsView"),
    ViewSpec("refunds", "Refunds", "refunds", "desktop.refunds.view:RefundsView"),
    ViewSpec("webhooks", "Webhooks", "webhooks", "desktop.webhooks.view:WebhooksView"),
    ViewSpec("recon", "Reconciliation", "trend", "desktop.recon.view:ReconView"),
    ViewSpec("activity", "Activity", "activity", "desktop.activity.view:ActivityView"),
    ViewSpec("jobs", "Jobs", "jobs", "desktop.jobs.view:JobsView"),
]


def view_keys() -> list[str]:
    return [v.key for v in VIEWS]


def find(key: str) -> ViewSpec | None:
    return next((v for v in VIEWS if v.key == key), None)


def find_by_name(name: str) -> ViewSpec | None:
    """The view called ``name`` by its key or by the title the navigation shows
    (``overview`` and ``dashboard`` alike), case and surrounding blanks ignored."""
    wanted = name.strip().casefold()
    return next((v for v in VIEWS if wanted in (v.key, v.title.casefold())), None)


def view_names() -> list[str]:
    """The names ``--view`` accepts, as the navigation shows them (lower case)."""
    return [v.title.lower() for v in VIEWS]


def refresh_of(view: QWidget | None) -> Callable[[], object] | None:
    """How ``view`` reads its data again (``refresh`` or ``reload``), or None."""
    again = getattr(view, "refresh", None) or getattr(view, "reload", None)
    return again if callable(again) else None


def search_of(view: QWidget | None) -> QLineEdit | None:
    """``view``'s search field, or None when it has none."""
    from PySide6.QtWidgets import QLineEdit

    search = getattr(view, "search", None)
    return search if isinstance(search, QLineEdit) else None


def open_link(services: AppServices, origin: QWidget, key: str, link: object) -> QWidget | None:
    """Open view ``key`` narrowed to ``link`` on behalf of ``origin``; returns the view, or
    None when this build has no such view (the caller tells the person)."""
    if services.navigate is not None:
        return services.navigate(key, link)
    open_view = getattr(origin.window(), "open_view", None)
    target = open_view(key) if open_view is not None else None
    apply_link = getattr(target, "apply_link", None)
    if apply_link is not None:
        apply_link(link)
    return target
