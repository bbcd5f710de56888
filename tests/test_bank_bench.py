"""bench/bench_sync.py still runs end to end (at a small scale, to stay fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_bench_sync_runs_and_counts_every_movement_and_alert(tmp_path: Path,
                                                             store: str) -> None:
    postgres = ["--postgres"] if store == "postgresql" else []
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_sync.py"), "--movements", "3000",
         "--agreements", "300", "--page-size", "500", "--work-dir", str(tmp_path),
         *postgres],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    # Exit 0: every movement stored, alerts == the generator's count of alert-worthy
    # movements, within the time and memory targets.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3,000" in result.stdout
    assert "alerts queued" in result.stdout
    assert ("PostgreSQL" if postgres else "SQLite") in result.stdout
    assert list(tmp_path.iterdir()) == []  # cleaned up
