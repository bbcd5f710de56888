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
        # (link, storage, its +CPMS answer) the modem last confirmed as mem1; forgotten
        # on any failed command, a new link and when the wrapper hears of a restart
        self._selected: tuple[SerialLink, str, str] | None = None

    def require(self) -> SerialLink:
        """The open link; `ModemGone` when there is none."""
        link = self.link
        if link is None:
            raise ModemGone(f"{self.name}: not open")
        return link

    def cmd(self, command: str, *, timeout: float | None = None) -> list[str]:
        """`command`'s answer lines (see `SerialLink.command`)."""
        try:
            return self.require().command(
                command, timeout=self.command_timeout if timeout is None else timeout
            )
        except BaseException:
            # an error or a timeout may mean the modem reset or lost its settings
            self._selected = None
            raise

    def forget_storage(self) -> None:
        """The modem may have changed its storage (it restarted): ask again next time."""
        self._selected = None

    @property
    def selected_storage(self) -> str | None:
        """The read/delete storage the modem confirmed on the current link, if known."""
        sel = self._selected
        return sel[1] if sel is not None and sel[0] is self.link else None

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

    def select(self, storage: str, *, fresh: bool = False) -> str:
        """Make `storage` the read/delete storage (mem1 only); returns the `+CPMS` answer
        (the one it gave when selected, unless `fresh`: then asked now).

        Sent once per link and storage, not per message (issue 17: a `+CPMS` per read and
        delete cost a fifth of the modem's time). Sent again whenever the modem may have
        forgotten it: another storage was wanted, a new link, any failed or timed-out
        command, or a restart notice (`forget_storage`).
        """
        if storage not in _STORAGES:
            raise ValueError(f"unknown storage {storage!r}")
        link = self.require()
        sel = self._selected
        if not fresh and sel is not None and sel[0] is link and sel[1] == storage:
            return sel[2]
        self._selected = None
        answer = self.value(f'AT+CPMS="{storage}"', "+CPMS")
        self._selected = (link, storage, answer)
        return answer

    def pause(self, seconds: float) -> None:
        """Wait, but wake at once (`ModemGone`) if the port goes away."""
        if self.require().wait_gone(seconds):
            raise ModemGone(f"{self.name}: port {self.port} gone")
