"""The daemon: wiring (`wiring`), the adapters fitted to the flows' ports (`adapters`),
its threads (`workers`), scheduled jobs (`jobs`), the modems' facts for `doctor` and
`status` (`facts`), systemd (`service`) and `appliance run` with its signals (`cli`)."""

from appliance.daemon.cli import install_signal_handlers, run_command
from appliance.daemon.jobs import HOUSEKEEPING_DELAY
from appliance.daemon.wiring import Daemon

__all__ = ["HOUSEKEEPING_DELAY", "Daemon", "install_signal_handlers", "run_command"]
