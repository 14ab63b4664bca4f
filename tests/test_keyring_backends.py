"""keyring's null backend drops what it is given and its fail backend refuses; a chainer with
nothing to chain does what the null one does. None of them is a keyring for Paydesk: a typed
password is kept in memory for the session, and the person is told it is not saved."""

from __future__ import annotations

from collections.abc import Callable

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from core import settings
from core.store import connection, dburl, passwords
from tests.conftest import MemoryKeyring

ACCOUNT = "ana@db.internal:5432/paydesk"
URL = "postgresql://ana@db.internal/paydesk"
SECRET = "s3cret-pw"


def _empty_chainer(monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    return chainer.ChainerBackend()


def _chainer_of_nothing_usable(monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [null.Keyring(), fail.Keyring()])
    return chainer.ChainerBackend()


NO_KEYRING: dict[str, Callable[[pytest.MonkeyPatch], KeyringBackend]] = {
    "null": lambda _mp: null.Keyring(),
    "fail": lambda _mp: fail.Keyring(),
    "empty chainer": _empty_chainer,
    "chainer of null and fail": _chainer_of_nothing_usable,
}


@pytest.fixture(params=list(NO_KEYRING))
def no_keyring(request, monkeypatch) -> KeyringBackend:
    backend = NO_KEYRING[request.param](monkeypatch)
    keyring.set_keyring(backend)  # the autouse fixture puts the test keyring back
    return backend


def test_null_fail_and_empty_chainer_backends_are_no_keyring(no_keyring):
    assert passwords.keyring_available() is False


def test_a_password_is_kept_in_memory_and_said_to_be_so(no_keyring):
    assert passwords.set_password(ACCOUNT, SECRET) is False  # not saved for later
    assert passwords.get_password(ACCOUNT) == SECRET  # but this session has it
    saved = connection.save_connection(URL, SECRET)
    assert saved.password_in == "memory"
    assert SECRET not in settings.settings_path().read_text(encoding="utf-8")
    target = dburl.with_password(dburl.parse(URL))
    assert target.url.password == SECRET  # the session connects with it


def test_the_next_session_has_to_ask_again(no_keyring):
    connection.save_connection(URL, SECRET)
    passwords._memory.clear()  # what a new process starts with
    assert passwords.get_password(ACCOUNT) is None
    assert dburl.with_password(dburl.parse(URL)).url.password is None


def test_forgetting_works_without_a_keyring(no_keyring):
    passwords.set_password(ACCOUNT, SECRET)
    passwords.forget(ACCOUNT)
    assert passwords.get_password(ACCOUNT) is None


def test_a_real_backend_is_a_keyring(isolated_environment):
    assert passwords.keyring_available() is True
    assert passwords.set_password(ACCOUNT, SECRET) is True
    assert isolated_environment.store[("Paydesk", ACCOUNT)] == SECRET


def test_a_chainer_with_a_real_backend_is_a_keyring(monkeypatch):
    store = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [store])
    keyring.set_keyring(chainer.ChainerBackend())
    assert passwords.keyring_available() is True
    assert passwords.set_password(ACCOUNT, SECRET) is True
    passwords._memory.clear()
    assert passwords.get_password(ACCOUNT) == SECRET


def test_a_backend_that_breaks_is_no_keyring(monkeypatch):
    def broken() -> KeyringBackend:
        raise RuntimeError("no D-Bus")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    assert passwords.keyring_available() is False
    assert passwords.set_password(ACCOUNT, SECRET) is False
    assert passwords.get_password(ACCOUNT) == SECRET


@pytest.mark.gui
def test_the_connection_dialog_says_the_null_backend_saves_nothing(qtbot):
    from desktop.connection.dialog import NO_KEYRING_NOTE, ConnectionDialog
    from desktop.shell.runner import TaskRunner

    keyring.set_keyring(null.Keyring())
    runner = TaskRunner()
    dialog = ConnectionDialog(runner, None)
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        dialog.shared_choice.click()  # the note sits with the password field
        assert dialog.keyring_note.isVisible()
        assert dialog.keyring_note.text() == NO_KEYRING_NOTE
    finally:
        runner.wait(10_000)
