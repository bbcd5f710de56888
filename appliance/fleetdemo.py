"""`appliance demo --boxes N [--postgres]`: a fleet on one database (DESIGN §9, §10).

The fake bank runs in this process; each box is its own process (`appliance.fleetbox`: a
daemon and its own fake modem) with its own directory `DIR/boxes/<name>` (its modem's
link and control socket, its configuration, health snapshot and log), and all of them
share one database: one SQLite file `DIR/appliance.sqlite` (each box's directory holds a
link to it, so that its own files stay its own), or with `--postgres` a private cluster
under `DIR/pg` that this process starts and stops.

A box that dies is never restarted: the others carry on with its work. SIGINT/SIGTERM
stop every box, then the cluster, then the bank (exit 0).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from appliance import demo
from appliance.clitexts import t
from appliance.config import Settings
from appliance.daemon import install_signal_handlers
from appliance.fakebank.server import FakeBankServer
from appliance.fleetbox import BOX_INFO, LINK_NAME, LOG_NAME
from appliance.logs import setup_logging
from appliance.ops import pgcluster
from appliance.store import open_database

log = logging.getLogger(__name__)

BOXES_DIR = "boxes"
PG_DIR = "pg"
READY_TIMEOUT = 120.0  # a box's first bank sync, on a machine running N of them


@dataclass
class Box:
    """One box's process, as this demo started it."""

    name: str
    dir: Path
    proc: subprocess.Popen[bytes]
    info: dict[str, object] | None = None
    exit_code: int | None = None

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def listing(self) -> dict[str, object]:
        """The box's entry in demo.json (DESIGN §9's keys first)."""
        info = self.info or {}
        return {"name": self.name, "pid": self.proc.pid,
                "modem_state_dir": str(self.dir.resolve()), "pty": info.get("pty"),
                "config": str((self.dir / demo.CONFIG_NAME).resolve()),
                "metrics_url": info.get("metrics_url"), "status_url": info.get("status_url"),
                "alive": self.alive}


def box_names(n: int) -> list[str]:
    return [f"box{i}" for i in range(1, n + 1)]


def postgres_supported() -> bool:
    """Whether this build's store takes `[database] url` (PostgreSQL)."""
    return hasattr(Settings, "database_url")


def _start_cluster(state_dir: Path) -> pgcluster.PgCluster:
    """The private cluster under DIR/pg, or one stderr line and exit 2."""
    try:
        pgcluster.binaries()
        if not postgres_supported():
            click.echo(t("fleet.store_without_postgres"), err=True)
            sys.exit(2)
        # The cluster's owner (not root) must pass through DIR to reach DIR/pg: search
        # only (no listing); every file in DIR stays its owner's alone (DESIGN §2, I7).
        pgcluster.let_owner_pass(state_dir)
        return pgcluster.start(state_dir / PG_DIR)
    except pgcluster.PgClusterError as exc:
        click.echo(t("fleet.no_postgres", error=exc), err=True)
        sys.exit(2)


def _database_value(box_dir: Path, url: str | None) -> str:
    """The `database` value of one box's configuration (TOML)."""
    if url is not None:
        return f'{{ url = "{url}", state_dir = "{box_dir.resolve()}" }}'
    # SQLite: a link to the shared file, so that the box's health snapshot (kept beside
    # its database) is its own; SQLite finds the WAL beside the real file.
    link = box_dir / demo.DB_NAME
    link.symlink_to(Path("..") / ".." / demo.DB_NAME)
    return f'"{link.absolute()}"'


def start_box(name: str, box_dir: Path, *, modem_delay: str, time_scale: float,
              seed: int | None = None) -> Box:
    """Start one box's process (its configuration is already in `box_dir`)."""
    out = (box_dir / "box.out").open("ab")
    args = [sys.executable, "-m", "appliance.fleetbox", "--name", name, "--box-dir",
            str(box_dir), "--modem-delay", modem_delay, "--time-scale", repr(time_scale)]
    if seed is not None:
        args += ["--seed", str(seed)]
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    # Its own session: Ctrl+C reaches this demo alone, which stops the boxes in order.
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    out.close()
    return Box(name, box_dir, proc)


def wait_ready(boxes: list[Box], stop: threading.Event, timeout: float = READY_TIMEOUT) -> None:
    """Until every box wrote box.json; a box that exits first or too late: exit 1."""
    deadline = time.monotonic() + timeout
    for box in boxes:
        path = box.dir / BOX_INFO
        while box.info is None:
            if path.exists():
                box.info = json.loads(path.read_text(encoding="utf-8"))
                break
            code = box.proc.poll()
            if code is not None:
                click.echo(t("fleet.box_failed", name=box.name, code=code,
                             log=box.dir / LOG_NAME), err=True)
                sys.exit(1)
            if time.monotonic() > deadline:
                click.echo(t("fleet.box_timeout", name=box.name, seconds=int(timeout),
                             log=box.dir / LOG_NAME), err=True)
                sys.exit(1)
            if stop.wait(0.1):
                return


def stop_boxes(boxes: list[Box]) -> None:
    """SIGTERM every live box, then wait for each (SIGKILL after 30 s)."""
    for box in boxes:
        if box.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                box.proc.send_signal(signal.SIGTERM)
    for box in boxes:
        try:
            box.proc.wait(30)
        except subprocess.TimeoutExpired:
            box.proc.kill()
            box.proc.wait(10)


def write_fleet_info(state_dir: Path, bank: FakeBankServer, boxes: list[Box],
                     database: str) -> Path:
    """demo.json: the single demo's keys (of the first box) and `boxes`."""
    first = boxes[0].info or {}
    extra: dict[str, object] = {
        "modem_link": str((boxes[0].dir / LINK_NAME).absolute()), "database": database,
        "boxes": [b.listing() for b in boxes]}
    for key in ("metrics_url", "status_url"):
        if first.get(key):
            extra[key] = first[key]
    # One write (demo.json is replaced atomically): a reader never sees it without boxes.
    return demo.write_info(state_dir, str(first.get("pty", "")), bank.url, bank.token_file,
                           extra=extra)


def fleet_banner(state_dir: Path, bank: FakeBankServer, boxes: list[Box],
                 database: str) -> None:
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    console.print(f"[bold]{t('fleet.title', boxes=len(boxes))}[/bold]")
    console.print(f"  {t('demo.bank')} {bank.url}", markup=False)
    console.print(f"  {t('fleet.database')} {database}", markup=False)
    console.print(f"  {t('demo.config')} {(state_dir / demo.CONFIG_NAME).resolve()}",
                  markup=False)
    # Lines, not a table: the paths stay whole (copy-pasteable), whatever the width.
    console.print(f"[bold]{t('fleet.boxes')}[/bold]")
    for b in boxes:
        console.print(f"  {b.name}  {t('fleet.col_pid')} {b.proc.pid}  "
                      f"{t('fleet.col_pty')} {(b.info or {}).get('pty', '')}  "
                      f"--state-dir {b.dir.resolve()}", markup=False)
    console.print(demo.phones_table())
    console.print(t("demo.legend"), markup=False)
    cmd = demo.cli_command()
    sd = f"--state-dir {shlex.quote(str(boxes[0].dir.resolve()))}"
    console.print(t("fleet.how_to_text"))
    console.print(f"  {cmd} fake-modem deliver {sd} --from {demo.DEMO_PHONES[0].phone} B",
                  markup=False)
    console.print(t("fleet.how_to_read"))
    console.print(f"  {cmd} fake-modem sent {sd}", markup=False)
    console.print(t("fleet.how_to_kill"))
    console.print(f"  kill -9 {boxes[-1].proc.pid}", markup=False)
    console.print(t("demo.how_to_stop"))


def run_fleet(state_dir: Path, n: int, *, postgres: bool, modem_delay: str,
              time_scale: float) -> None:
    """The whole fleet demo, in the foreground until SIGINT/SIGTERM (demo.py's lock held)."""
    pgcluster.stop_stale(state_dir / PG_DIR)
    demo.fresh_state(state_dir)
    setup_logging("INFO", file=state_dir / demo.LOG_NAME)
    stop = threading.Event()
    install_signal_handlers(stop)
    cluster = _start_cluster(state_dir) if postgres else None
    bank: FakeBankServer | None = None
    boxes: list[Box] = []
    try:
        bank = FakeBankServer(state_dir).start()
        # Migrated once, here, before any box starts.
        if cluster is None:
            open_database(state_dir / demo.DB_NAME).close()
            database = str((state_dir / demo.DB_NAME).resolve())
        else:
            open_database(cluster.url).close()
            database = cluster.url
        root = state_dir / BOXES_DIR
        for name in box_names(n):
            box_dir = root / name
            box_dir.mkdir(parents=True)
            value = _database_value(box_dir, None if cluster is None else cluster.url)
            text = demo.config_text(box_dir, bank.url, bank.token_file, database=value,
                                    modem=name, box=name)
            (box_dir / demo.CONFIG_NAME).write_text(text, encoding="utf-8")
            if name == "box1":  # `status|doctor --config DIR/appliance.toml`: the first box
                (state_dir / demo.CONFIG_NAME).write_text(text, encoding="utf-8")
            boxes.append(start_box(name, box_dir, modem_delay=modem_delay,
                                   time_scale=time_scale))
        wait_ready(boxes, stop)
        if not stop.is_set():
            write_fleet_info(state_dir, bank, boxes, database)
            fleet_banner(state_dir, bank, boxes, database)
        supervise(state_dir, bank, boxes, database, stop)
    finally:
        stop_boxes(boxes)
        if cluster is not None:
            with contextlib.suppress(pgcluster.PgClusterError):
                cluster.stop()
        if bank is not None:
            bank.close()


def supervise(state_dir: Path, bank: FakeBankServer, boxes: list[Box], database: str,
              stop: threading.Event) -> None:
    """Until `stop`: note each box that dies (it stays dead) in the log and demo.json."""
    while not stop.wait(0.5):
        for box in boxes:
            if box.alive and (code := box.proc.poll()) is not None:
                box.exit_code = code
                click.echo(t("fleet.box_died", name=box.name, pid=box.proc.pid, code=code))
                log.warning("box %s (pid %d) died: exit %d", box.name, box.proc.pid, code)
                write_fleet_info(state_dir, bank, boxes, database)
