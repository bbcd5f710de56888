"""bench/salary_day.py (issue 14) at CI size, for real: alerts from fake-bank salaries over
two boxes' fake modems, a customer trickle, one box SIGKILLed at half-time, and the scaling
runs; the numbers of its tables agree with each other and with the invariants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.daemon.workers import OutboxWorker

pytestmark = pytest.mark.timeout(420)  # real daemons draining on realistic modems

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_salary_day_drains_with_nothing_lost_or_doubled(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "salary_day.py"), "--alerts", "40",
         "--modems", "4", "--boxes", "2", "--time-scale", "0.02", "--trickle-gap", "10",
         "--scaling", "1,2", "--scaling-alerts", "5", "--json", "--keep", str(tmp_path / "w")],
        check=False, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.splitlines()[-1])
    day = out["day"]
    assert day["killed"] == "box2"
    assert 20 <= day["killed_after"] < 40
    # every alert went out: the dead box's claims (one per modem at most) through the
    # survivor once their lease ran out; twice only when its modem had sent one already
    # and the crash-mid-send policy resent it
    assert day["lost"] == day["stuck"] == 0
    # at most one claim per lane of each of the dead box's two modems
    assert day["held"] <= 2 * OutboxWorker.LANES, day
    assert day["resent"] <= day["held"]
    assert day["doubled"] <= day["held"]
    assert day["parts"] == 40 - day["lost"] + day["doubled"]  # a policy resend is a part too
    assert set(day["busy_pct"]) == {"m01", "m02", "m03", "m04"}
    # A modem runs one command at a time: its busy intervals are merged, so no figure can
    # pass 100 % (summed, two intervals overlapping in the wall-clock timeline once gave
    # 100.5+ on a loaded machine). The fair window (until the operator's queue was
    # empty) is within the raw one, and unscaling the daemon's time only raises it.
    for name, fair in day["busy_pct"].items():
        raw, unscaled = day["busy_raw_pct"][name], day["busy_unscaled_pct"][name]
        assert 0 <= raw <= fair <= unscaled <= 100.0, (name, raw, fair, unscaled)
    # The survivor's modems sent all along. The dead box's may have sent nothing: the
    # alerts are queued by the box whose sync took them, and the other box's modems see
    # them at their idle poll (1 s real, 50 model s here), by when half may be out.
    assert all(day["busy_pct"][m] > 0 for m in ("m01", "m03")), day["busy_pct"]
    # realistic +CMGS is 1-4 model seconds; nothing drains faster than its radios allow
    assert 1.0 <= day["send_s"] <= 4.0
    assert day["drain_s"] >= day["ideal_s"] * 0.8
    assert day["reply_waits"]  # customers texted during the drain, and got answers
    assert 0 < day["survivor_rate"] <= day["survivor_limit"] * 1.25
    assert [s["modems"] for s in out["scaling"]] == [1, 2]
    for s in out["scaling"]:
        assert s["lost"] == s["doubled"] == 0
        assert s["rate"] == pytest.approx(s["alerts"] / s["drain_s"])
    text = run.stdout
    assert f"{day['drain_s'] / 3600:.2f} radio-h" in text
    assert f"{day['wait_p99']:.2f} s" in text
    assert len(day["reply_waits_unscaled"]) == len(day["reply_waits"])
    assert day["wait_unscaled_p99"] <= day["wait_p99"] + 1e-9  # scale < 1: only less
    assert "alerts lost" in text
    assert "claimed by the dead box at the kill" in text
    assert "throughput scaling" in text


# Two boxes: long enough that the other box's idle poll (1 s, real time) is small beside
# the drain.
@pytest.mark.parametrize(("boxes", "operators", "alerts", "scale"),
                         [(1, "vala,vala,ipko,ipko", 60, 0.02), (2, "vala,ipko", 200, 0.05)])
def test_modems_of_one_operator_share_its_queue(tmp_path: Path, boxes: int, operators: str,
                                                alerts: int, scale: float) -> None:
    """Two Vala and two IPKO SIMs, in one box or over two: alerts (routed to their
    recipient's operator's modem) leave through every modem, not the first of each
    operator alone, nor the modems of the box that synced the bank alone (either left the
    others idle behind it)."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "salary_day.py"), "--alerts", str(alerts),
         "--modems", "4", "--boxes", str(boxes), "--no-kill", "--operators", operators,
         "--time-scale", str(scale),
         "--trickle-gap", "0", "--scaling", "", "--json", "--keep", str(tmp_path / "w")],
        check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    day = json.loads(run.stdout.splitlines()[-1])["day"]
    assert day["lost"] == day["doubled"] == 0
    assert day["killed"] is None
    assert sum(day["sends"].values()) == alerts
    # every modem takes a real share (a quarter is fair; 37 of 200 came in a clean-clone run:
    # the box that did not queue the alerts joins at its idle poll, docs/fleet.md)
    assert min(day["sends"].values()) >= alerts // 8, day["sends"]
