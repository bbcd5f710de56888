"""bench/bench_daemon.py still runs end to end on both stores, at a small scale (its
realistic phase was broken for a whole stop by a change to the fake modem's delay model
that nothing ran it against)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_bench_daemon_runs_every_phase_and_exits_cleanly(store: str) -> None:
    postgres = ["--postgres"] if store == "postgresql" else []
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_daemon.py"), "--latency", "20",
         "--burst", "40", "--numbers", "40", "--alerts", "100", "--window", "2", *postgres],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert ("PostgreSQL" if postgres else "SQLite") in out
    assert "realistic: send slot busy" in out
    # both daemons (zero delay, realistic delay) stopped on SIGTERM with exit code 0
    assert " 0, 0 " in out
