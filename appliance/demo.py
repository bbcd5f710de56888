"""`appliance demo`: the whole box on a laptop (DESIGN §9).

Fake bank on loopback (seeded), fake modem on a pty (symlink `DIR/modem`, control socket
`DIR/fakemodem.sock`), the daemon on a fresh SQLite database, all under the state dir
(default `./demo-state`). Writes `DIR/appliance.toml` (the configuration it runs with, so
`appliance doctor|status --config DIR/appliance.toml` work against it) and `DIR/demo.json`,
prints a short banner, and runs in the foreground until SIGINT/SIGTERM (exit 0).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.table import Table

from appliance.clitexts import t
from appliance.config import load_or_exit
from appliance.daemon import Daemon, install_signal_handlers
from appliance.fakebank.server import FakeBankServer
from appliance.fakemodem.model import ModemConfig
from appliance.fakemodem.server import FakeModemServer
from appliance.logs import setup_logging
from appliance.ops import pgcluster
from appliance.ops.privacy import private_start
from appliance.web import WebServer

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("demo-state")
MODEM_LINK = "modem"
CONFIG_NAME = "appliance.toml"
DB_NAME = "appliance.sqlite"
INFO_NAME = "demo.json"
LOG_NAME = "appliance.log"
LOCK_NAME = "demo.lock"  # holds the running demo's pid; never removed by fresh_state

# Files and directories a previous demo (or the fakes) left that a fresh start removes.
# Only these: the state dir may be one the user chose, so nothing else is touched.
_STALE = (
    DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm",
    "fakebank.sqlite", "fakebank.sqlite-wal", "fakebank.sqlite-shm", "fakebank.json",
    "fakemodem.sock", "fakemodem.json", "fakemodem.sqlite", "fakemodem.sqlite-wal",
    "fakemodem.sqlite-shm", "fakemodem", "health.json", MODEM_LINK, CONFIG_NAME, INFO_NAME,
    LOG_NAME, "boxes", "pg",  # a fleet's (appliance.fleetdemo)
)


@dataclass(frozen=True)
class DemoPhone:
    phone: str
    who: str
    examples: tuple[str, ...]


# From the fake bank's seed (config/demo-bank.yaml).
DEMO_PHONES: tuple[DemoPhone, ...] = (
    DemoPhone("+38344123456", "Arben (Vala, shqip)", ("B", "BK", "5", "MINI", "BLLOKO 4821")),
    DemoPhone("+38349234567", "Drita (IPKO, English)", ("B", "044123456 5", "STOP", "SR")),
    DemoPhone("+38345345678", "Besnik (Vala, business)", ("B", "Internet besnik.k 15")),
)
# A card of the first demo phone's customer (the fake bank's seed: Arben's ***4821).
DEMO_CARD_BLOCK = "BLLOKO 4821"


DEMO_SMSC = ModemConfig().smsc  # the fake modem's service centre

# A fleet box's claims: a demo's sends take seconds (command_timeout 10), so a 20 s lease
# is safe, and a row whose PDU a killed box had written waits 10 s for a status report
# that its dead modem will never bring before the survivor resends it (DESIGN §2, I5): a
# demo's killed box stays dead (§9), so no hold for its modem's return.
FLEET_OUTBOX = """\
lease = 20
sending_grace = 10
dead_box_hold = 0
"""


def config_text(state_dir: Path, bank_url: str, token_file: Path, *,
                database: str | None = None, modem: str = "fake",
                box: str | None = None) -> str:
    """The TOML the demo runs with (paths absolute, so it works from any directory).

    `database` is the TOML value of the `database` key (default: `DIR/appliance.sqlite`);
    `modem` the modem's name; `box` the box's name in a fleet (appliance.fleetdemo), whose
    claims on the shared queue also lapse sooner, so that a box killed in a demo hands its
    work over within half a minute.
    """
    d = state_dir.resolve()
    db = database if database is not None else f'"{d / DB_NAME}"'
    box_line = "" if box is None else f'box = "{box}"\n'
    fleet_outbox = "" if box is None else FLEET_OUTBOX
    return f"""\
# Written by `appliance demo`: the configuration the running demo uses.
# Try: {cli_command()} status --config {d / CONFIG_NAME}
{box_line}database = {db}
log_level = "info"

[[modems]]
name = "{modem}"
port = "{d / MODEM_LINK}"
operator = "vala"
command_timeout = 10
# Money commands only through the fake modem's own service centre (DESIGN §4).
smsc_allow = ["{DEMO_SMSC}"]

[inbox]
# The fake modem sends +CMTI notices; polling is only the safety net.
poll_interval = 5
multipart_timeout = 60

[outbox]
backoff_initial = 1
backoff_max = 30
{fleet_outbox}
[bank]
url = "{bank_url}"
token_file = "{token_file.resolve()}"
connect_timeout = 2
read_timeout = 5
sync_interval = 5

[unknown_sender]
policy = "refuse_once_per_day"

[http]
# Metrics and the status page on a free loopback port (demo.json has the URLs).
listen = "127.0.0.1:0"
"""


def fresh_state(state_dir: Path) -> None:
    """Make `state_dir` (if needed) and remove what a previous demo left in it."""
    if state_dir.exists() and not state_dir.is_dir():
        raise click.UsageError(t("demo.bad_state_dir", path=state_dir))
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in _STALE:
        path = state_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def banner(pty: str, bank_url: str, state_dir: Path, config: Path, *,
           web: WebServer | None = None) -> None:
    """Print the short banner: pty, bank URL, demo phones and what to text, how to stop."""
    # soft_wrap: long paths stay on one line (copy-pasteable), whatever the width.
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    console.print(f"[bold]{t('demo.title')}[/bold]")
    console.print(f"  {t('demo.pty')} {pty}  (link {state_dir / MODEM_LINK})")
    console.print(f"  {t('demo.bank')} {bank_url}")
    console.print(f"  {t('demo.config')} {config}")
    if web is not None:
        console.print(f"  {t('demo.status_page')} {web.status_url}", markup=False)
        console.print(f"  {t('demo.metrics')} {web.metrics_url}", markup=False)
    console.print(phones_table())
    console.print(t("demo.legend"), markup=False)
    # Copy-pasted into a new terminal (another directory, no venv on PATH): full paths.
    cmd = cli_command()
    sd = f"--state-dir {shlex.quote(str(state_dir.resolve()))}"
    console.print(t("demo.how_to_text"))
    console.print(f"  {cmd} fake-modem deliver {sd} --from {DEMO_PHONES[0].phone} B",
                  markup=False)
    console.print(t("demo.how_to_block", text=DEMO_CARD_BLOCK, phone=DEMO_PHONES[0].phone,
                    cards=f"{cmd} fake-bank cards {sd}"), markup=False)
    console.print(t("demo.how_to_read"))
    console.print(f"  {cmd} fake-modem sent {sd}", markup=False)
    console.print(t("demo.how_to_status"))
    console.print(f"  {cmd} status --config {shlex.quote(str(config))}", markup=False)
    console.print(t("demo.how_to_stop"))


def phones_table() -> Table:
    """The demo phones and what to text from each."""
    table = Table(title=t("demo.phones"), title_justify="left")
    table.add_column(t("demo.col_phone"))
    table.add_column(t("demo.col_who"))
    table.add_column(t("demo.col_try"))
    for p in DEMO_PHONES:
        table.add_row(p.phone, p.who, "  |  ".join(p.examples))
    return table


def cli_command() -> str:
    """This very `appliance`, as a shell word that works from any directory and PATH.

    The venv's script beside the running interpreter (`.venv/bin/appliance` after
    `./scripts/demo`), by its absolute path; else the one on PATH; else the bare name.
    """
    script = Path(sys.executable).absolute().parent / "appliance"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    found = shutil.which("appliance")
    return shlex.quote(str(Path(found).absolute())) if found else "appliance"


def write_info(state_dir: Path, pty: str, bank_url: str, token_file: Path, *,
               web: WebServer | None = None, extra: dict[str, object] | None = None) -> Path:
    """`DIR/demo.json`: the banner's facts for scripts (and `extra` keys: a fleet's)."""
    info: dict[str, object] = {
        "pty": pty,
        "bank_url": bank_url,
        "bank_token_file": str(token_file.resolve()),
        "phones": [p.phone for p in DEMO_PHONES],
        # Additions beyond DESIGN §9's keys (stable too):
        "modem_link": str((state_dir / MODEM_LINK).absolute()),  # the link, not its pty
        "config": str((state_dir / CONFIG_NAME).resolve()),
        "state_dir": str(state_dir.resolve()),
        "pid": os.getpid(),
        "examples": {p.phone: list(p.examples) for p in DEMO_PHONES},
    }
    if web is not None:
        info.update(metrics_url=web.metrics_url, status_url=web.status_url)
    info.update(extra or {})
    path = state_dir / INFO_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # readers never see half a file
    return path


@click.command("demo")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_STATE_DIR, show_default=True,
              help="Where the demo keeps everything (recreated fresh on each start).")
@click.option("--modem-delay", type=click.Choice(["none", "realistic"]), default="none",
              show_default=True, help="The fake modem's timing model.")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True,
              help="Run the modem's delay model this many times faster (0.01: 100x).")
@click.option("--boxes", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Boxes (each its own process: a daemon and its own fake modem) on one "
                   "shared database.")
@click.option("--postgres", is_flag=True,
              help="The shared database is a private PostgreSQL cluster under DIR/pg.")
def demo_command(state_dir: Path, modem_delay: str, time_scale: float, boxes: int,
                 postgres: bool) -> None:
    """Run the whole box locally: fake bank, fake modem on a pty, the daemon."""
    # First: everything the demo writes holds personal data (invariant 7), whatever the
    # umask of the shell that started it.
    private_start(state_dir / DB_NAME, state_dir / LOG_NAME)
    # Held for the demo's life: a second demo on the same directory would take over its
    # modem link and control socket and leave the first one unreachable.
    lock = _lock_state_dir(state_dir)
    try:
        if boxes > 1 or postgres:
            # Here, not at the top: fleetdemo builds on this module's helpers.
            from appliance.fleetdemo import run_fleet  # noqa: PLC0415

            run_fleet(state_dir, boxes, postgres=postgres, modem_delay=modem_delay,
                      time_scale=time_scale)
        else:
            _run_one_box(state_dir, modem_delay, time_scale)
    finally:
        lock.close()
    click.echo(t("demo.stopped"))


def _run_one_box(state_dir: Path, modem_delay: str, time_scale: float) -> None:
    pgcluster.stop_stale(state_dir / "pg")  # a fleet demo's cluster, left by a kill -9
    fresh_state(state_dir)
    setup_logging("INFO", file=state_dir / LOG_NAME)
    bank = FakeBankServer(state_dir).start()
    modem = FakeModemServer(state_dir / MODEM_LINK, state_dir, delay=modem_delay,
                            time_scale=time_scale)
    daemon: Daemon | None = None
    try:
        modem.start()
        config_path = state_dir / CONFIG_NAME
        config_path.write_text(config_text(state_dir, bank.url, bank.token_file),
                               encoding="utf-8")
        settings = load_or_exit(config_path)
        daemon = Daemon(settings)
        install_signal_handlers(daemon.stop_event)
        daemon.start(first_sync=True)
        if daemon.last_sync_error:
            click.echo(t("demo.first_sync_failed", error=daemon.last_sync_error), err=True)
        pty = str(modem.pty_path)
        write_info(state_dir, pty, bank.url, bank.token_file, web=daemon.web)
        banner(pty, bank.url, state_dir, config_path.resolve(), web=daemon.web)
        daemon.run()
    finally:
        if daemon is not None:
            daemon.stop()
        with contextlib.suppress(Exception):
            modem.stop()
        bank.close()


def _lock_state_dir(state_dir: Path) -> IO[str]:
    """Take `state_dir/demo.lock`, or exit 2 naming the demo that holds it."""
    if state_dir.exists() and not state_dir.is_dir():
        raise click.UsageError(t("demo.bad_state_dir", path=state_dir))
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        click.echo(t("demo.already_running", state_dir=state_dir, pid=holder), err=True)
        sys.exit(2)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
