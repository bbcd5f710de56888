"""What only `appliance run` needs from the config: the bank token (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from appliance.cli import main
from appliance.config import load

NO_TOKEN = ('database = "{db}"\n[[modems]]\nname = "vala"\nport = "/dev/gsm-vala"\n'
            'operator = "vala"\n[bank]\nurl = "https://bank.example"\n')


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "appliance"
    env = {**os.environ, "APPLIANCE_LANG": "en"}
    return subprocess.run([str(exe), "run", "--config", str(config)], capture_output=True,
                          text=True, timeout=60, check=False, env=env)


def test_run_without_token_file_is_a_config_error(tmp_path: Path) -> None:
    """It crashed with `expected str, bytes or os.PathLike object, not NoneType`, exit 1."""
    config = tmp_path / "appliance.toml"
    config.write_text(NO_TOKEN.format(db=tmp_path / "db.sqlite"), encoding="utf-8")
    proc = _run(config)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "appliance: config error: bank.token_file: required key is missing "
        "(`appliance run` needs the bank's bearer token)"
    ]
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching anything


def test_the_other_commands_load_it_and_doctor_reports_it(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(NO_TOKEN.format(db=tmp_path / "db.sqlite"), encoding="utf-8")
    assert load(config).bank.token_file is None
    result = CliRunner().invoke(main, ["doctor", "--config", str(config), "--json"],
                                env={"APPLIANCE_LANG": "en"})
    assert result.exit_code in (0, 1), result.output  # a report, not a config error
    assert '"bank.token"' in result.stdout
    assert "no token_file in the config" in result.stdout
