"""`appliance run --config FILE`: the daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from appliance.clitexts import t
from appliance.config import load_or_exit
from appliance.daemon.wiring import Daemon
from appliance.logs import setup_logging
from appliance.ops.privacy import private_start

log = logging.getLogger(__name__)


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the daemon cleanly (exit 0)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The appliance's TOML configuration file.")
def run_command(config_path: Path) -> None:
    """Run the daemon: answer customers' SMS, send alerts and top-ups (until SIGTERM)."""
    settings = load_or_exit(config_path, for_run=True)
    setup_logging(str(settings.log_level))
    private_start(settings.database)  # invariant 7: umask 077, state dir tightened
    daemon = Daemon(settings)
    install_signal_handlers(daemon.stop_event)
    try:
        daemon.start()
    except Exception as exc:
        daemon.stop()
        log.error("%s", t("daemon.start_failed", error=exc))
        raise SystemExit(1) from exc
    daemon.run()
