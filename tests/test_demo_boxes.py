"""`appliance demo --boxes N` (DESIGN §9) as a tester drives it: each box its own process
with its own fake modem, on one shared database; `fake-modem deliver|sent --state-dir
<modem_state_dir>` drive one box; a box killed with -9 stays dead and the others carry on
with its work. And the private PostgreSQL cluster helper the demo runs `--postgres` on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.fakemodem.control import ControlClient
from appliance.ops import pgcluster
from tests.conftest import assert_logs_masked
from tests.helpers import db_rows, wait_for

pytestmark = pytest.mark.timeout(300)  # boxes start, die and hand over for real

CLI = [sys.executable, "-c", "from appliance.cli import main; main()"]
ENV = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env or ENV)


class Fleet:
    def __init__(self, proc: subprocess.Popen[bytes], state: Path, out: Path) -> None:
        self.proc, self.state, self.out = proc, state, out

    @property
    def info(self) -> dict[str, object]:
        return dict(json.loads((self.state / "demo.json").read_text(encoding="utf-8")))

    def boxes(self) -> list[dict[str, object]]:
        return list(self.info["boxes"])  # type: ignore[call-overload]

    def sent(self, box: dict[str, object]) -> list[dict[str, object]]:
        r = _cli("fake-modem", "sent", "--state-dir", str(box["modem_state_dir"]), "--json")
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines()]

    def all_sent(self, alive_only: bool = True) -> list[dict[str, object]]:
        return [m for b in self.boxes() if b["alive"] or not alive_only for m in self.sent(b)]

    @property
    def db(self) -> Path | str:
        """The shared database: the SQLite file, or the private cluster's URL."""
        database = str(self.info["database"])
        return database if database.startswith("postgresql://") else Path(database)


@pytest.fixture
def fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    extra: list[str] = getattr(request, "param", [])
    state = tmp_path / "state"
    if "--postgres" in extra:
        # Not under pytest's tmp dir: root's 0700 tree is closed to the postgres user.
        state = Path(tempfile.mkdtemp(prefix="fleet-demo-")) / "state"
        state.parent.chmod(0o711)
    out_path = tmp_path / "demo.out"
    out = out_path.open("wb")
    proc = subprocess.Popen([*CLI, "demo", "--boxes", "2", "--state-dir", str(state), *extra],
                            stdout=out, stderr=subprocess.STDOUT, env=ENV)
    out.close()
    f = Fleet(proc, state, out_path)
    try:
        wait_for(lambda: (state / "demo.json").exists() or proc.poll() is not None,
                 timeout=120, what="demo.json")
        assert proc.poll() is None, out_path.read_text(encoding="utf-8")[-3000:]
        yield f
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, out_path.read_text(encoding="utf-8")[-3000:]
    assert "Demo stopped" in out_path.read_text(encoding="utf-8")
    for box in f.boxes():  # every box's process is gone with the demo
        assert not Path(f"/proc/{box['pid']}").exists()
    assert_logs_masked(state / "boxes" / "box1" / "appliance.log")
    if "--postgres" in extra:  # the cluster stopped with the demo
        assert not (state / "pg" / "data" / "postmaster.pid").exists()
        subprocess.run(["rm", "-rf", str(state.parent)], check=False)


@pytest.mark.parametrize("fleet", [[], ["--postgres"]], indirect=True,
                         ids=["sqlite", "postgresql"])
def test_two_boxes_each_answer_on_one_shared_database(fleet: Fleet) -> None:
    info = fleet.info
    boxes = fleet.boxes()
    assert [b["name"] for b in boxes] == ["box1", "box2"]
    assert {"pty", "bank_url", "bank_token_file", "phones"} <= set(info)
    assert info["pty"] == boxes[0]["pty"]
    pids = {int(str(b["pid"])) for b in boxes}
    assert len(pids) == 2
    assert fleet.proc.pid not in pids  # each box its own process
    for b in boxes:
        state_dir = Path(str(b["modem_state_dir"]))
        assert (state_dir / "modem").resolve() == Path(str(b["pty"]))
        assert json.loads((state_dir / "box.json").read_text())["pid"] == b["pid"]
    wait_for(lambda: "Ctrl+C" in fleet.out.read_text(encoding="utf-8"), timeout=10,
             what="the banner")
    banner = fleet.out.read_text(encoding="utf-8")
    for b in boxes:
        assert str(b["pid"]) in banner
        assert str(b["modem_state_dir"]) in banner

    phones = [str(p) for p in info["phones"]]  # type: ignore[attr-defined]
    for box, phone in zip(boxes, phones, strict=False):
        r = _cli("fake-modem", "deliver", "--state-dir", str(box["modem_state_dir"]),
                 "--from", phone, "B")
        assert r.returncode == 0, r.stderr
    for phone in phones[:2]:
        (reply,) = wait_for(lambda p=phone: [m for m in fleet.all_sent() if m["to"] == p],
                            timeout=30, what=f"the reply to {phone}")
        assert "***" in str(reply["text"])
    # one database: both boxes' messages are in it, each decided once
    rows = db_rows(fleet.db, "SELECT sender, state FROM inbound_message ORDER BY id")
    assert sorted(str(r[0]) for r in rows) == sorted(phones[:2])
    assert {r[1] for r in rows} == {"handled"}
    for b in boxes:  # each box's own health snapshot, in its own directory
        health = Path(str(b["modem_state_dir"])) / "health.json"
        wait_for(health.exists, timeout=30, what=f"{b['name']}'s health.json")
        snap = json.loads(health.read_text(encoding="utf-8"))
        assert snap["pid"] == b["pid"]
        assert list(snap["modems"]) == [b["name"]]
    status = _cli("status", "--config", str(info["config"]))
    assert status.returncode == 0, status.stdout + status.stderr


REALISTIC = ["--modem-delay", "realistic", "--time-scale", "0.3"]


@pytest.mark.parametrize("fleet", [REALISTIC, [*REALISTIC, "--postgres"]], indirect=True,
                         ids=["sqlite", "postgresql"])
def test_a_box_killed_stays_dead_and_the_survivor_carries_its_queue(fleet: Fleet) -> None:
    box1, box2 = fleet.boxes()
    phones = [str(p) for p in fleet.info["phones"]]  # type: ignore[attr-defined]
    db = fleet.db
    # A burst to box2's modem; box2 is killed once replies wait in the shared queue.
    modem2 = ControlClient(Path(str(box2["modem_state_dir"])))
    texts = ("B", "BK", "MINI", "b", "Bilanc", "bk", "mini", "BILANC")
    for text in texts:
        for phone in phones:
            modem2.deliver(phone, text)
    wait_for(lambda: db_rows(db, "SELECT count(*) FROM outbox_message "
                                 "WHERE state = 'queued'")[0][0] >= 3,  # type: ignore[operator]
             timeout=60, what="replies queued")
    os.kill(int(str(box2["pid"])), signal.SIGKILL)
    queued = {int(str(r[0])) for r in db_rows(
        db, "SELECT id FROM outbox_message WHERE state = 'queued'")}
    # What the dead box had claimed: its lease runs out (20 s in the demo), then the
    # survivor takes it over (a PDU it had written waits 10 s more for a report first).
    leased = {int(str(r[0])) for r in db_rows(
        db, "SELECT id FROM outbox_message WHERE state = 'sending' AND box = 'box2'")}
    assert queued
    wait_for(lambda: not fleet.boxes()[1]["alive"], timeout=10, what="box2 noted dead")
    assert "Box box2" in fleet.out.read_text(encoding="utf-8")

    # Every reply that was waiting, or on the dead box's radio, goes out through the
    # survivor's modem.
    marks = ",".join(str(i) for i in sorted(queued | leased))

    def sent_by_box1() -> bool:
        rows = db_rows(db, f"SELECT state, modem FROM outbox_message WHERE id IN ({marks})")
        return all(s in ("sent", "delivered") and m == "box1" for s, m in rows)
    wait_for(sent_by_box1, timeout=120, what="the dead box's queued and leased replies")
    by_text = Counter(str(m["text"]) for m in fleet.sent(box1))
    for (text,) in db_rows(db, f"SELECT text FROM outbox_message WHERE id IN ({marks})"):
        assert by_text[str(text)] >= 1

    # The dead box stays dead; a message to the survivor is still answered.
    assert not Path(f"/proc/{box2['pid']}").exists() or _zombie(int(str(box2["pid"])))
    before = len([m for m in fleet.sent(box1) if m["to"] == phones[0]])
    r = _cli("fake-modem", "deliver", "--state-dir", str(box1["modem_state_dir"]),
             "--from", phones[0], "NDIHME")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len([m for m in fleet.sent(box1) if m["to"] == phones[0]]) > before,
             timeout=60, what="the survivor's answer")
    assert fleet.proc.poll() is None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_postgres_without_its_binaries_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**ENV, "APPLIANCE_PG_BIN": str(tmp_path / "no-such-bin")}
    r = _cli("demo", "--boxes", "2", "--postgres", "--state-dir", str(tmp_path / "s"),
             env=env)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "--postgres" in line
    assert str(tmp_path / "no-such-bin" / "initdb") in line


def test_bad_boxes_and_time_scale_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, name in ((["--boxes", "0"], "--boxes"), (["--time-scale", "0"], "--time-scale"),
                       (["--time-scale", "fast"], "--time-scale")):
        r = _cli("demo", "--state-dir", str(tmp_path / "s"), *args)
        assert r.returncode == 2, args
        (line,) = r.stderr.strip().splitlines()
        assert name in line


def test_private_cluster_starts_serves_and_stops() -> None:
    # Not under pytest's tmp dir: root's 0700 tree is closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
    root.chmod(0o711)
    try:
        cluster = pgcluster.start(root / "pg")
        try:
            psql = subprocess.run(["psql", cluster.url, "-Atc",
                                   "SELECT current_user || ' ' || current_database()"],
                                  capture_output=True, text=True, timeout=30, check=False)
            assert psql.stdout.strip() == "appliance appliance", psql.stderr
            assert (cluster.data / "PG_VERSION").exists()
            assert (root / "pg").stat().st_mode & 0o077 == 0  # personal data: owner only
        finally:
            cluster.stop()
        down = subprocess.run(["psql", cluster.url, "-c", "SELECT 1"], capture_output=True,
                              text=True, timeout=30, check=False)
        assert down.returncode != 0
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_a_demo_killed_with_9_leaves_nothing_running_for_the_next(tmp_path: Path) -> None:
    """The boxes stop when their demo is gone; its cluster, left running, is stopped by
    the next demo on the same directory, which then works as usual."""
    root = Path(tempfile.mkdtemp(prefix="fleet-demo-"))
    root.chmod(0o711)
    state = root / "state"
    args = [*CLI, "demo", "--boxes", "2", "--postgres", "--state-dir", str(state)]
    try:
        first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=ENV)
        wait_for((state / "demo.json").exists, timeout=120, what="the first demo.json")
        pids = [int(str(b["pid"])) for b in json.loads((state / "demo.json").read_text())["boxes"]]
        first.kill()
        first.wait(10)
        wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), timeout=30,
                 what="the orphaned boxes to stop")
        pidfile = state / "pg" / "data" / "postmaster.pid"
        postmaster = int(pidfile.read_text().split()[0])  # left running
        assert Path(f"/proc/{postmaster}").exists()

        out = tmp_path / "second.out"
        with out.open("wb") as fh:
            second = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=ENV)
        try:
            def second_info() -> bool:  # the first demo's demo.json is there until replaced
                if second.poll() is not None:
                    return True
                with contextlib.suppress(FileNotFoundError, ValueError):
                    return json.loads((state / "demo.json").read_text())["pid"] == second.pid
                return False
            wait_for(second_info, timeout=120, what="the second demo.json")
            assert second.poll() is None, out.read_text(encoding="utf-8")[-3000:]
            info = json.loads((state / "demo.json").read_text())
            box = info["boxes"][0]
            phone = info["phones"][0]
            r = _cli("fake-modem", "deliver", "--state-dir", str(box["modem_state_dir"]),
                     "--from", phone, "B")
            assert r.returncode == 0, r.stderr
            wait_for(lambda: phone in "".join(
                _cli("fake-modem", "sent", "--state-dir", str(b["modem_state_dir"])).stdout
                for b in info["boxes"]), timeout=30, what="the reply")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0
        assert not (state / "pg" / "data" / "postmaster.pid").exists()
        assert not Path(f"/proc/{postmaster}").exists()  # the second demo stopped it first
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
