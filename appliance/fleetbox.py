"""One box of `appliance demo --boxes N`: its own process, with a daemon and its own fake
modem, on the fleet's shared database (DESIGN §9).

`appliance demo` starts one of these per box (`python -m appliance.fleetbox …`) and never
restarts it: a box killed with -9 stays dead, and the others carry on with its work. When
the box is up it writes `box.json` (its pid, pty and web URLs) beside its configuration.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import click

from appliance.config import load_or_exit
from appliance.daemon import Daemon, install_signal_handlers
from appliance.fakemodem.server import FakeModemServer
from appliance.logs import setup_logging

log = logging.getLogger(__name__)

BOX_INFO = "box.json"
LINK_NAME = "modem"
LOG_NAME = "appliance.log"


def write_box_info(box_dir: Path, name: str, pty: str, daemon: Daemon) -> Path:
    """`box_dir/box.json`, replaced atomically: what the demo lists for this box."""
    info: dict[str, object] = {"name": name, "pid": os.getpid(), "pty": pty,
                               "modem_state_dir": str(box_dir.resolve())}
    if daemon.web is not None:
        info.update(metrics_url=daemon.web.metrics_url, status_url=daemon.web.status_url)
    path = box_dir / BOX_INFO
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _stop_with_parent(daemon: Daemon) -> None:
    """Stop when the demo that started this box is gone (killed with -9 itself): a box
    left running would hold its modem link and the database for nobody."""
    parent = os.getppid()

    def watch() -> None:
        while not daemon.stop_event.wait(1.0):
            if os.getppid() != parent:
                log.warning("the demo (pid %d) is gone: stopping", parent)
                daemon.stop_event.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@click.command("box")
@click.option("--name", required=True)
@click.option("--box-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--modem-delay", type=click.Choice(["none", "realistic"]), default="none")
@click.option("--time-scale", type=float, default=1.0)
@click.option("--seed", type=int, default=None)
def box_command(name: str, box_dir: Path, modem_delay: str, time_scale: float,
                seed: int | None) -> None:
    """Run one box (`box_dir/appliance.toml`) until SIGINT/SIGTERM."""
    setup_logging("INFO", file=box_dir / LOG_NAME)
    modem = FakeModemServer(box_dir / LINK_NAME, box_dir, modem_delay, name=name, seed=seed,
                            time_scale=time_scale)
    daemon: Daemon | None = None
    try:
        modem.start()
        settings = load_or_exit(box_dir / "appliance.toml")
        daemon = Daemon(settings)
        install_signal_handlers(daemon.stop_event)
        _stop_with_parent(daemon)
        daemon.start(first_sync=True)
        write_box_info(box_dir, name, str(modem.pty_path), daemon)
        log.info("box %s up (pid %d)", name, os.getpid())
        daemon.run()
    finally:
        if daemon is not None:
            daemon.stop()
        modem.stop()


if __name__ == "__main__":
    box_command()
