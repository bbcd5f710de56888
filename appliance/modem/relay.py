"""The relay link between sends (27.005 §3.5.6 `+CMMS`): kept open through a run of
sends, so the run pays the link set-up (channel, authentication, ciphering) once."""

from __future__ import annotations

import logging

from appliance.modem.channel import Channel
from appliance.modem.errors import CmeError, CmsError, CommandError
from appliance.modem.serial_link import SerialLink

log = logging.getLogger(__name__)


class RelayLink:
    """Whether `AT+CMMS=2` is set on the current link, and whether the modem refuses it."""

    def __init__(self) -> None:
        self._on: SerialLink | None = None
        self._refused = False

    def forget(self) -> None:
        """The modem restarted: its +CMMS is back to 0."""
        self._on = None

    def keep(self, ch: Channel, link: SerialLink) -> None:
        """`AT+CMMS=2` once per link (the modem keeps it until a restart; the link itself
        closes 1-5 s after the last send). A modem that refuses it is sent without it
        from then on, and told so once."""
        if self._refused or self._on is link:
            return
        try:
            ch.cmd("AT+CMMS=2")
        except (CommandError, CmeError, CmsError) as exc:
            self._refused = True
            log.info("%s: AT+CMMS=2 refused (%s); sending without keeping the link",
                     ch.name, exc)
            return
        self._on = link
