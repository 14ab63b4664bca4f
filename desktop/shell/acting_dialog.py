"""The base of the dialogs that act (Retry failed…, Endpoints…, Gateways…): the core context
they work in, the background runner their reads and writes go to, and the person they act
as."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QWidget

from core.context import Context
from desktop.shell.runner import TaskRunner


class ActingDialog(QDialog):
    def __init__(
        self, ctx: Context, runner: TaskRunner, actor: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.runner = runner
        self.actor = actor
