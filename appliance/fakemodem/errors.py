"""The final result codes a command can end with, as exceptions."""

from __future__ import annotations


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

