"""Named crash points: `APPLIANCE_CRASH_AT=<point>` SIGKILLs the process there (tests).

Inbound: `after_read`, `after_store`, `after_delete`, `after_decide`; outbound:
`after_sending` (claimed, nothing written), `after_pdu_written` (the first
PDU and Ctrl-Z written, the answer not read), `after_submit` (answered, not yet
marked), `report_before_commit` (status reports taken from the modem, not yet
applied nor acknowledged); bank requests: `request_before_bank`, `request_after_bank`.
tests/test_e2e_crash.py and tests/test_e2e_requests.py kill the daemon at each.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

CRASH_ENV = "APPLIANCE_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process here when `APPLIANCE_CRASH_AT` names this point (tests only)."""
    if os.environ.get(CRASH_ENV) == name:
        log.warning("crash point %s reached: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
