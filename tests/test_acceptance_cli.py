"""Acceptance: the command line as a tester scripts it (DESIGN.md §9).

Bad usage exits 2 with ONE stderr line that names the argument, for every subcommand,
including the errors click itself raises (missing option, bad choice, unknown option).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "from appliance.cli import main; main(prog_name='appliance')"


def appliance(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `appliance ARGS` as a separate process, the way a script would."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )


@pytest.mark.parametrize(("args", "names"), [
    (["run"], "--config"),
    (["doctor"], "--config"),
    (["status"], "--config"),
    (["demo", "--modem-delay", "fast"], "--modem-delay"),
    (["fake-modem", "serve"], "--link"),
    (["fake-modem", "serve", "--link", "x", "--modem-delay", "slow"], "--modem-delay"),
    (["fake-modem", "sent", "--bogus"], "--bogus"),
    (["fake-bank", "movement", "--amount", "-1", "--type", "x"], "--account"),
    (["nosuch"], "nosuch"),
    (["fake-modem", "nosuch"], "nosuch"),
])
def test_bad_usage_is_one_stderr_line_naming_the_argument(args: list[str], names: str) -> None:
    result = appliance(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert names in lines[0]
    assert "--help" in lines[0]  # where to read what was expected


def test_usage_error_speaks_albanian_when_asked() -> None:
    env = {**os.environ, "APPLIANCE_LANG": "sq"}
    result = appliance("run", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "appliance run: Missing option '--config'. (shih 'appliance run --help')")


def test_bare_command_and_help_still_print_help() -> None:
    bare = appliance()
    assert bare.returncode == 2
    assert "Commands:" in bare.stderr
    helped = appliance("run", "--help")
    assert helped.returncode == 0
    assert "--config" in helped.stdout


def test_an_option_missing_its_value_names_the_subcommand() -> None:
    result = appliance("doctor", "--config")
    assert result.returncode == 2
    assert result.stderr.startswith("appliance doctor: Option '--config' requires an argument.")
    assert len(result.stderr.splitlines()) == 1
