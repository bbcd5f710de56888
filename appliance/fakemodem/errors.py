"""The final result codes a command can end with, as exceptions."""

from __future__ import annotations

from appliance.fakemodem.model import Fault


class CmeError(Exception):
    """A final `+CME ERROR: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CmsError(Exception):
    """A final `+CMS ERROR: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PlainError(Exception):
    """A final `ERROR` (syntax)."""


def _fault_error(fault: Fault) -> Exception:
    if fault.kind == "cms-error":
        return CmsError(fault.code or 500)
    if fault.kind == "cme-error":
        return CmeError(fault.code or 100)
    return PlainError()
