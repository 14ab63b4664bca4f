"""Where an export may write: a regular file (or a new name) only, through a temporary file
beside it; a device, a pipe or a folder is refused before anything is read, and a write
error is one sentence with the temporary file removed and an earlier file unchanged."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.demo import generator as demo
from core.errors import InputError
from core.payments import export
from core.payments.queries import PaymentFilter
from core.store.db import Database


@pytest.fixture
def seeded(db: Database, clock) -> Database:
    demo.seed(db, payments=1_200, seed=7, now=clock.now())
    return db


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_is_refused_up_front_and_the_device_kept(seeded, db_url, capsys):
    before = os.stat("/dev/full")
    with pytest.raises(InputError, match=r"^/dev/full is a device, not a file; give the name"):
        export.export_payments(seeded, PaymentFilter(), Path("/dev/full"))
    code, out, err = run_cli(
        ["--database", db_url, "export", "payments", "--out", "/dev/full"], capsys
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "is a device" in err and "Traceback" not in err
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not [n for n in os.listdir("/dev") if n.startswith(".full.")]


def test_a_fifo_is_refused_and_left_a_fifo(seeded, tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a pipe, not a file"):
        export.export_payments(seeded, PaymentFilter(), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []


def test_a_folder_is_refused(seeded, tmp_path):
    target = tmp_path / "out.csv"
    target.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        export.export_payments(seeded, PaymentFilter(), target)
    assert target.is_dir() and list(target.iterdir()) == []


def test_a_link_to_a_file_writes_the_file_and_keeps_the_link(seeded, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    rows = export.export_payments(seeded, PaymentFilter(), link)
    assert rows == 1_200
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8").startswith("id,created_at,")


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_error_is_one_sentence_and_the_earlier_file_is_unchanged(seeded, db_url, tmp_path):
    """A file-size limit makes the write fail midway, as a full disk would (EFBIG for
    ENOSPC): exit 1, one sentence, no temporary file, the earlier export untouched."""
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "payments.csv"
    target.write_text("the earlier export\n", encoding="utf-8")
    limit = 64 * 1024  # the CSV of 1,200 payments is about three times as big

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from desktop.entry import main; sys.exit(main())",
            "--database",
            db_url,
            "export",
            "payments",
            "--out",
            str(target),
        ],
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"paydesk: Writing {target} failed (File too large); {target} was left unchanged.\n"
    )
    assert target.read_text(encoding="utf-8") == "the earlier export\n"
    assert [p.name for p in folder.iterdir()] == ["payments.csv"]


def test_a_write_error_without_an_earlier_file_leaves_nothing(seeded, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    folder.mkdir()
    real_replace = os.replace

    def full_disk(src, dst):  # the data fitted, the rename's metadata did not
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(export.PaydeskError) as caught:
        export.export_payments(seeded, PaymentFilter(), folder / "new.csv")
    monkeypatch.setattr(os, "replace", real_replace)
    assert caught.value.exit_code == 1
    assert caught.value.message == (
        f"Writing {folder / 'new.csv'} failed (No space left on device); no file was written."
    )
    assert list(folder.iterdir()) == []


def test_a_read_only_file_is_refused_and_kept(seeded, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("permission bits do not stop root")
    target = tmp_path / "kept.csv"
    target.write_text("keep me\n", encoding="utf-8")
    target.chmod(0o444)
    with pytest.raises(InputError, match="is read-only"):
        export.export_payments(seeded, PaymentFilter(), target)
    assert target.read_text(encoding="utf-8") == "keep me\n"
