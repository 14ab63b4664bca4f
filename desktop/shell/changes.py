"""Change notices from core.store.notify, brought to the UI thread and coalesced.

Notices arrive on whatever thread committed the change (a scheduler task, the Postgres
listener). ``ChangeBridge`` queues them and, at most every ``interval_ms``, emits
``changed(table, ids, statuses)`` once per table with everything that arrived, so a burst
of a thousand processed refunds costs a view one refresh, not a thousand.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from core.store import notify


class ChangeBridge(QObject):
    # table, ids (empty = "something in this table"), statuses seen
    changed = Signal(str, object, object)
    _poke = Signal()

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 80) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[set[str], set[str], bool]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._flush)
        self._poke.connect(self._arm)
        notify.subscribe(self._on_notice)

    def close(self) -> None:
        notify.unsubscribe(self._on_notice)
        self._timer.stop()

    def _on_notice(self, notice: notify.Notice) -> None:
        # Any thread: record, then ask the UI thread to arm the timer.
        with self._lock:
            ids, statuses, everything = self._pending.get(notice.table, (set(), set(), False))
            ids.update(notice.ids)
            if notice.status:
                statuses.add(notice.status)
            self._pending[notice.table] = (ids, statuses, everything or not notice.ids)
        self._poke.emit()

    @Slot()
    def _arm(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for table, (ids, statuses, everything) in pending.items():
            self.changed.emit(
                table, () if everything else tuple(sorted(ids)), tuple(sorted(statuses))
            )
