"""The `appliance` command: the root group; each subcommand lives with the code it drives.

Subcommands are imported lazily so that `appliance --help` stays fast and one broken
module cannot take the whole command line down with it.
"""

from __future__ import annotations

import importlib
from typing import IO

import click

from appliance.clitexts import t

# name -> "module:attribute" of a click.Command; DESIGN.md §9 lists the stable ones.
_COMMANDS: dict[str, str] = {
    "run": "appliance.daemon:run_command",
    "demo": "appliance.demo:demo_command",
    "doctor": "appliance.ops.cli:doctor_command",
    "status": "appliance.ops.cli:status_command",
    "backup": "appliance.ops.cli:backup_command",
    "fake-modem": "appliance.fakemodem.cli:fake_modem",
    "fake-bank": "appliance.fakebank.cli:fake_bank",
}


# ctx.meta key (shared by every context of one run): the command line resolved so far.
_RESOLVED = "appliance.cli.resolved"


class _OneLineUsageError(click.UsageError):
    """A usage error shown as one stderr line naming the argument (DESIGN.md §9), exit 2."""

    def __init__(self, message: str, ctx: click.Context | None, where: str) -> None:
        super().__init__(message, ctx)
        self.where = where

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(t("cli.usage_error", where=self.where, message=self.format_message()),
                   file=file, err=file is None)


def _one_line(error: click.UsageError, ctx: click.Context | None) -> _OneLineUsageError:
    # click prints usage + hint + blank + "Error: ..." (4 lines); scripts want one line.
    # format_message() names the option ("Invalid value for '--x': ...", "Missing option").
    # Some parse errors carry no context: then the deepest command resolved names it.
    if error.ctx is not None:
        where = error.ctx.command_path
    elif ctx is not None:
        where = str(ctx.meta.get(_RESOLVED, ctx.command_path))
    else:
        where = "appliance"
    return _OneLineUsageError(error.format_message(), error.ctx, where)


class _LazyGroup(click.Group):
    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: object) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # bare `appliance`: the help text is the answer
        except click.UsageError as error:
            if isinstance(error, _OneLineUsageError):
                raise
            raise _one_line(error, parent) from error

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            if isinstance(error, _OneLineUsageError):
                raise
            raise _one_line(error, ctx) from error

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            ctx.meta[_RESOLVED] = f"{ctx.command_path} {name}"
        return name, command, rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command: object = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appliance")
def main() -> None:
    """SMS-banking appliance: answers the bank's customers by SMS through a GSM modem."""
