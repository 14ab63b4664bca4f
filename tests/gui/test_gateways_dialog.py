"""The Gateways dialog driven as a person would, against the fake gateway on 127.0.0.1: adding
a connection (and seeing what the gateway offers), a wrong secret refused with nothing saved,
Sync now, Remove after confirming, and what someone who is not an admin is offered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QMessageBox
from sqlalchemy import func, select

from core.context import Context
from core.gateway import connections
from core.store.models import GatewayConnection
from desktop.gateways.dialog import GatewaysDialog
from desktop.shell.views import AppServices
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.gui.conftest import app_services
from tests.webhook_receiver import ADMIN, SUPPORT, add_staff

pytestmark = pytest.mark.gui


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation())
    yield gateway
    gateway.close()


@pytest.fixture
def staffed(ctx: Context, monkeypatch) -> Context:
    add_staff(ctx)
    monkeypatch.setattr(ctx, "default_actor", lambda: ADMIN)
    return ctx


@pytest.fixture
def services(staffed: Context, qtbot) -> Iterator[AppServices]:
    with app_services(staffed, changes=False) as services:
        yield services


def open_dialog(qtbot, services: AppServices) -> GatewaysDialog:
    dialog = GatewaysDialog(services)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.is_loaded)
    return dialog


def listed(dialog: GatewaysDialog) -> list[str]:
    return [dialog.list.item(i).text().splitlines()[0] for i in range(dialog.list.count())]


def saved(ctx: Context) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(GatewayConnection)) or 0


def type_connection(qtbot, dialog: GatewaysDialog, url: str, secret: str) -> None:
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.add_dialog is not None and dialog.add_dialog.isVisible())
    add = dialog.add_dialog
    assert add is not None
    qtbot.keyClicks(add.name_edit, "acme")
    qtbot.keyClicks(add.url_edit, url)
    qtbot.keyClicks(add.key_edit, API_KEY)
    qtbot.keyClicks(add.secret_edit, secret)


def message_button(box: QMessageBox, text: str) -> QAbstractButton:
    return next(b for b in box.buttons() if b.text() == text)


def test_an_admin_adds_a_connection_and_sees_what_it_offers(qtbot, services, staffed, gw):
    dialog = open_dialog(qtbot, services)
    assert listed(dialog) == []
    assert "No gateway connection yet" in dialog.empty.text()
    type_connection(qtbot, dialog, gw.root, API_SECRET)
    add = dialog.add_dialog
    assert add is not None
    with qtbot.waitSignal(add.finishedWork, timeout=15_000) as tested:
        qtbot.mouseClick(add.test_button, Qt.MouseButton.LeftButton)
    assert tested.args[0] is True
    assert "accepts this key and secret" in add.outcome.text()
    assert "payment list: yes, paged by the gateway" in add.outcome.text()
    assert saved(staffed) == 0  # the test saves nothing
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        qtbot.mouseClick(add.add_button, Qt.MouseButton.LeftButton)
    assert listed(dialog) == ["acme"]
    assert dialog.outcome.text() == f"Connected acme at {gw.api}."
    assert dialog.field("URL") == gw.api
    assert dialog.field("API key") == "•" * (len(API_KEY) - 4) + API_KEY[-4:]
    assert dialog.field("API secret") == "in the system keyring"
    assert "payment list: yes, paged by the gateway" in dialog.field("Offers")
    assert "webhook retry: yes" in dialog.field("Offers")
    assert dialog.field("Last sync") == "never"
    assert API_SECRET not in " ".join(dialog.values[k].text() for k in dialog.values)


def test_a_wrong_secret_says_so_in_one_sentence_and_saves_nothing(
    qtbot, services, staffed, gw, isolated_environment
):
    dialog = open_dialog(qtbot, services)
    type_connection(qtbot, dialog, gw.api, "secret_wrong")
    add = dialog.add_dialog
    assert add is not None
    with qtbot.waitSignal(add.finishedWork, timeout=15_000) as done:
        qtbot.mouseClick(add.add_button, Qt.MouseButton.LeftButton)
    assert done.args[0] is False
    assert add.outcome.text() == (
        f"The gateway at {gw.api} refused the API key and secret (401); check both."
    )
    assert add.isVisible()  # still open, to correct the secret
    assert saved(staffed) == 0
    assert ("Paydesk", "gateway:acme") not in isolated_environment.store


def test_a_malformed_url_is_one_sentence(qtbot, services, staffed):
    dialog = open_dialog(qtbot, services)
    type_connection(qtbot, dialog, "ftp://nowhere", API_SECRET)
    add = dialog.add_dialog
    assert add is not None
    with qtbot.waitSignal(add.finishedWork, timeout=15_000):
        qtbot.mouseClick(add.test_button, Qt.MouseButton.LeftButton)
    assert add.outcome.text().startswith("'ftp://nowhere' is not a gateway URL")
    assert saved(staffed) == 0


def test_sync_now_shows_what_it_added_and_the_counts(qtbot, services, staffed, gw):
    gw.seed(payments=3, logs=2)
    connections.add_connection(staffed, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    dialog = open_dialog(qtbot, services)
    assert listed(dialog) == ["acme"]
    with qtbot.waitSignal(dialog.loaded, timeout=30_000):
        qtbot.mouseClick(dialog.sync_button, Qt.MouseButton.LeftButton)
    assert dialog.outcome.text().startswith("acme: ")
    assert " added, " in dialog.outcome.text()
    assert dialog.field("Outcome") == "ok"
    assert dialog.field("Counts").startswith("3 payments, ")
    assert dialog.field("Last error") == "none"


def test_remove_after_confirming(qtbot, services, staffed, gw):
    connections.add_connection(staffed, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    dialog = open_dialog(qtbot, services)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.confirm_box is not None)
    box = dialog.confirm_box
    assert box is not None and box.text() == "Remove the gateway connection acme?"
    qtbot.mouseClick(message_button(box, "Keep it"), Qt.MouseButton.LeftButton)
    assert listed(dialog) == ["acme"]
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.confirm_box is not None)
    box = dialog.confirm_box
    assert box is not None
    with qtbot.waitSignal(dialog.loaded, timeout=15_000):
        qtbot.mouseClick(message_button(box, "Remove"), Qt.MouseButton.LeftButton)
    assert listed(dialog) == []
    assert dialog.outcome.text().startswith("Removed acme: it is no longer synced")


def test_support_staff_see_the_buttons_off_and_why(qtbot, staffed, gw, monkeypatch):
    connections.add_connection(staffed, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    monkeypatch.setattr(staffed, "default_actor", lambda: SUPPORT)
    with app_services(staffed, changes=False) as services:
        dialog = open_dialog(qtbot, services)
        assert listed(dialog) == ["acme"]
        assert dialog.field("URL") == gw.api
        for button in (dialog.add_button, dialog.sync_button, dialog.remove_button):
            assert not button.isEnabled()
        assert dialog.role_line.isVisible()
        assert dialog.role_line.text() == (
            "Only admin staff can add, sync or remove gateway connections; "
            "you act as sam, who is support."
        )


def test_every_button_and_field_has_an_accessible_name(qtbot, services):
    dialog = open_dialog(qtbot, services)
    for button in (dialog.add_button, dialog.sync_button, dialog.remove_button):
        assert button.accessibleName()
    assert dialog.list.accessibleName() == "Gateway connections"
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.add_dialog is not None)
    add = dialog.add_dialog
    assert add is not None
    for edit in (add.name_edit, add.url_edit, add.key_edit, add.secret_edit):
        assert edit.accessibleName()
    assert [add.test_button.accessibleName(), add.add_button.accessibleName()] == [
        "Test connection",
        "Add",
    ]


def test_an_unreachable_gateway_is_one_sentence_and_saves_nothing(qtbot, services, staffed):
    gone = FakeGateway()
    url = gone.api
    gone.close()
    dialog = open_dialog(qtbot, services)
    type_connection(qtbot, dialog, url, API_SECRET)
    add = dialog.add_dialog
    assert add is not None
    with qtbot.waitSignal(add.finishedWork, timeout=15_000) as done:
        qtbot.mouseClick(add.add_button, Qt.MouseButton.LeftButton)
    assert done.args[0] is False
    assert url in add.outcome.text() and add.outcome.text().count(". ") == 0
    assert saved(staffed) == 0
