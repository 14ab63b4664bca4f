"""The Endpoints dialog as support, finance and admin staff read it: an endpoint that is gone
after deliveries reached it says it was removed after them (not that none was ever set up), a
disabled one says why, the fields a role cannot change are read-only and say so, and every
control has an accessible name. On both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from core.store.models import Merchant
from tests.gui import test_webhooks_view as view_tests
from tests.gui.test_accessibility import unnamed
from tests.gui.test_webhooks_view import open_view, refused_url
from tests.webhook_receiver import ADMIN, FINANCE, add_merchant

pytestmark = pytest.mark.gui

# The view's tests' fixtures: the staff, the person at the keyboard, the view's services.
me = view_tests.me
services = view_tests.services
staffed = view_tests.staffed


def open_endpoints(qtbot, view, merchant_id: str = "mer_A"):
    view.open_endpoints(merchant_id)
    dialog = view.endpoints_dialog
    qtbot.waitUntil(
        lambda: dialog.endpoint is not None and dialog.endpoint.merchant_id == merchant_id
    )
    return dialog


def _removed_after_deliveries(ctx) -> None:
    """Shop A's endpoint delivered an hour ago and was removed since (as in the demo data)."""
    add_merchant(ctx, url=refused_url())
    with ctx.db.write() as s:
        m = s.get(Merchant, "mer_A")
        m.webhook_url = None
        m.webhook_enabled = False
        m.webhook_disabled_reason = "No webhook endpoint is set up."
        m.webhook_last_success_at = ctx.clock.now() - timedelta(hours=1)


def test_an_endpoint_removed_after_deliveries_says_so_truthfully(qtbot, staffed, services):
    _removed_after_deliveries(staffed)
    view = open_view(qtbot, services)
    dialog = open_endpoints(qtbot, view)
    said = dialog.disabled_reason.text()
    assert dialog.disabled_reason.isVisible()
    assert "No webhook endpoint is set up" not in said
    assert said.startswith("No endpoint is set now. Earlier deliveries reached one (the last on ")
    assert said.endswith(
        "it was removed after them, so new deliveries wait until an admin sets a URL."
    )
    assert dialog.value("Last success") != "—" and dialog.badge.text() == "No endpoint"
    # Send test event says why it is off, naming the merchant.
    assert not dialog.test_button.isEnabled()
    assert dialog.test_button.toolTip() == "Shop A has no webhook endpoint; an admin can set one."


def test_a_merchant_that_never_had_an_endpoint_says_not_yet(qtbot, staffed, services):
    add_merchant(staffed, "mer_B")
    view = open_view(qtbot, services)
    dialog = open_endpoints(qtbot, view, "mer_B")
    assert dialog.title.text() == "Shop B"
    assert dialog.disabled_reason.text() == (
        "No endpoint is set up yet; deliveries wait until an admin sets a URL."
    )


def test_support_reads_that_the_endpoint_is_read_only_for_them(qtbot, staffed, services):
    add_merchant(staffed, url=refused_url())
    view = open_view(qtbot, services)
    dialog = open_endpoints(qtbot, view)
    assert dialog.url_edit.isReadOnly()
    assert dialog.read_only_note.isVisible()
    assert dialog.read_only_note.text().startswith("Only admin staff can change an endpoint")
    assert "Read-only" in dialog.url_edit.accessibleDescription()
    # Typing into it changes nothing.
    before = dialog.url_edit.text()
    qtbot.keyClicks(dialog.url_edit, "x")
    qtbot.keyClick(dialog.url_edit, Qt.Key.Key_Return)
    assert dialog.url_edit.text() == before
    assert dialog.test_button.isVisible() and dialog.save_button.isHidden()
    assert unnamed(dialog) == []


def test_finance_only_looks(qtbot, staffed, services, monkeypatch):
    monkeypatch.setattr(staffed, "default_actor", lambda: FINANCE)
    add_merchant(staffed, url=refused_url())
    view = open_view(qtbot, services)
    dialog = open_endpoints(qtbot, view)
    assert dialog.url_edit.isReadOnly() and dialog.read_only_note.isVisible()
    assert dialog.test_button.isHidden() and dialog.enable_button.isHidden()


def test_admin_is_not_told_it_is_read_only_and_every_control_is_named(
    qtbot, staffed, services, monkeypatch
):
    monkeypatch.setattr(staffed, "default_actor", lambda: ADMIN)
    add_merchant(staffed, url=refused_url())
    view = open_view(qtbot, services)
    dialog = open_endpoints(qtbot, view)
    assert not dialog.url_edit.isReadOnly() and dialog.read_only_note.isHidden()
    assert unnamed(dialog) == []
    for w in (dialog.list, dialog.url_edit, dialog.save_button, dialog.reveal_button,
              dialog.rotate_button, dialog.enable_button, dialog.test_button):  # fmt: skip
        assert w.accessibleName().strip() or w.text(), w
        assert w.accessibleDescription().strip(), w
