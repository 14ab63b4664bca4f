"""Cold start: from process start to a usable window, from source.

Runs ``paydesk --database F --view payments`` with ``PAYDESK_STARTUP_PROBE=1`` (desktop/shell/app.py
prints ``probe shown T`` when the window is first shown and ``probe ready T`` when the Payments
view has its first rows, then quits) and prints the median of ``--runs`` runs of both, measured
from just before the process is started. Budget (DESIGN.md §7): ready ≤ 1.0 s from source.

F defaults to the 1,000,000-payment SQLite file of bench/payments_view.py (seeded there).

    /work/venv/bin/python bench/cold_start.py [--database sqlite:////path] [--runs 5]
        [--executable dist/paydesk/paydesk]   # the frozen build (budget 1.5 s)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAYDESK = Path(sys.executable).with_name("paydesk")
DEFAULT = "sqlite:////tmp/paydesk-bench/payments.sqlite3"
BUDGET_S = 1.0
FROZEN_BUDGET_S = 1.5


def one_start(url: str, folder: Path, executable: Path = PAYDESK) -> tuple[float, float]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PAYDESK_STARTUP_PROBE": "1",
        # Settings, logs and backups of the runs stay out of the person's folders.
        "PAYDESK_CONFIG_DIR": str(folder / "config"),
        "PAYDESK_DATA_DIR": str(folder / "data"),
    }
    start = time.time()
    done = subprocess.run(
        [str(executable), "--database", url, "--view", "payments"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    marks = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "probe":
            marks[parts[1]] = float(parts[2])
    if done.returncode != 0 or "ready" not in marks:
        raise SystemExit(f"paydesk did not start: {done.stderr.strip()}")
    return marks["shown"] - start, marks["ready"] - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--executable", type=Path, default=PAYDESK, help="paydesk to start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paydesk-cold-") as tmp:
        # The first run also migrates and warms the disk.
        one_start(args.database, Path(tmp), args.executable)
        runs = [one_start(args.database, Path(tmp), args.executable) for _ in range(args.runs)]
    shown = statistics.median(r[0] for r in runs)
    ready = statistics.median(r[1] for r in runs)
    print(f"database: {args.database}")
    print(f"window shown:        {shown * 1000:6.0f} ms (median of {args.runs})")
    budget = BUDGET_S if args.executable == PAYDESK else FROZEN_BUDGET_S
    mark = "ok" if ready <= budget else "OVER"
    print(f"executable: {args.executable}")
    print(f"usable (first rows): {ready * 1000:6.0f} ms   budget ≤ {budget * 1000:.0f} ms {mark}")
    print("runs (shown, ready):", ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f}" for a, b in runs))


if __name__ == "__main__":
    main()
