"""`Channel`: the AT primitives the `Modem` and its SIM steps are written in (one command
with the default timeout, a refusal tolerated, an answer's value, a storage switch, a
pause that wakes when the port goes), over whichever `SerialLink` is open now.
"""

from __future__ import annotations

import logging

from appliance.modem.at_answers import answer_value
from appliance.modem.errors import CmeError, CmsError, CommandError, ModemGone
from appliance.modem.serial_link import SerialLink

log = logging.getLogger(__name__)

_STORAGES = ("SM", "ME", "MT", "SR", "BM", "TA")


class Channel:
    """Commands on the current link. Not locked: the `Modem` holds its lock around use."""

    def __init__(self, name: str, port: str, command_timeout: float) -> None:
        self.name = name
        self.port = port
        self.command_timeout = command_timeout
        self.link: SerialLink | None = None

    def require(self) -> SerialLink:
        """The open link; `ModemGone` when there is none."""
        link = self.link
        if link is None:
            raise ModemGone(f"{self.name}: not open")
        return link

    def cmd(self, command: str, *, timeout: float | None = None) -> list[str]:
        """`command`'s answer lines (see `SerialLink.command`)."""
        return self.require().command(
            command, timeout=self.command_timeout if timeout is None else timeout
        )

    def attempt(self, command: str) -> bool:
        """Run `command`; a refusal (ERROR, +CME, +CMS) is logged and gives False."""
        try:
            self.cmd(command)
        except (CommandError, CmeError, CmsError) as exc:
            log.info("%s: %s refused (%s); carrying on", self.name, command, exc)
            return False
        return True

    def value(self, command: str, prefix: str) -> str:
        """The answer's payload: the `prefix:` line's value, else the first line."""
        return answer_value(self.cmd(command), prefix)

    def optional(self, command: str, prefix: str) -> str | None:
        """`value()` unquoted, None when the modem refuses or says nothing."""
        try:
            value = self.value(command, prefix).strip('"')
        except (CommandError, CmeError, CmsError):
            return None
        return value or None

    def select(self, storage: str) -> str:
        """Make `storage` the read/delete storage (mem1 only); returns the `+CPMS` answer.

        Sent before every read, list and delete, never cached: a modem that restarted
        behind our back would otherwise read or delete in the wrong storage.
        """
        if storage not in _STORAGES:
            raise ValueError(f"unknown storage {storage!r}")
        return self.value(f'AT+CPMS="{storage}"', "+CPMS")

    def pause(self, seconds: float) -> None:
        """Wait, but wake at once (`ModemGone`) if the port goes away."""
        if self.require().wait_gone(seconds):
            raise ModemGone(f"{self.name}: port {self.port} gone")
