"""bench/peer.py (DESIGN §9) at CI size, for real: the daemon, gammu-smsd and smstools3 each
answer a few `B`s on their own fake modem, and the one table shows each system's row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(420)  # three systems started for real, one after another

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_peer_run_gives_one_row_per_system_with_ratios(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "peer.py"), "--latency", "2", "--burst", "3",
         "--modem-delay", "realistic", "--time-scale", "0.02", "--json",
         "--keep", str(tmp_path / "work")],
        check=False, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.splitlines()[-1])
    assert [r["system"] for r in results] == ["appliance", "gammu-smsd", "smstools3"]
    ours = results[0]
    for r in results:
        assert len(r["latencies_ms"]) == 2
        assert r["burst"] == r["replies"] == 3  # every message of the burst answered
        assert 0 < r["p50_ms"] <= r["p99_ms"]
        assert r["rate"] > 0
        # the peers answer with the very text the daemon sent to the same number
        for number, text in r["texts"].items():
            assert ours["texts"][number] == text
        assert "***" in next(iter(r["texts"].values()))
    table = run.stdout
    for r in results:
        row = next(line for line in table.splitlines() if f" {r['system']} " in line)
        assert f"{r['p50_ms']:.0f} ms" in row
        assert f"{r['rate']:.2f} msg/s" in row
        assert f"{r['p50_ms'] / ours['p50_ms']:.1f}x" in row
    assert "seed 14" in table
