"""Shared fixtures: the whole box (fake bank + fake modem on a pty + daemon) in tmp_path.

`box` runs the daemon in this process (threads), for fast end-to-end checks; `daemon_proc`
runs `appliance run` in a subprocess, for tests that SIGKILL it. Both use the real pty, real
HTTP on loopback and a real SQLite file. Every log line the daemon writes goes to a file in
tmp_path that `assert_logs_masked` greps for unmasked phone and account numbers (I7).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

# Unmasked personal numbers as they could appear in a log line: Kosovo phones in any form
# people or modems write them, and 16-digit account numbers.
_PHONE_RE = re.compile(r"(?<![\d*])(?:\+?383|00383|0)\s?[234]\d[\s]?\d{3}[\s]?\d{3}(?!\d)")
_ACCOUNT_RE = re.compile(r"(?<![\d*])\d{10,}(?!\d)")

SEED_PHONES = ("+38344123456", "+38349234567", "+38345345678")
UNKNOWN_PHONE = "+38344700700"


def assert_logs_masked(*paths: Path) -> int:
    """Fail when any line of the given logs holds an unmasked phone or account number."""
    lines = 0
    for path in paths:
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                 .splitlines(), 1):
            lines += 1
            for rx in (_PHONE_RE, _ACCOUNT_RE):
                hit = rx.search(line)
                assert hit is None, f"{path.name}:{n}: unmasked number {hit.group()!r}: {line}"
    return lines


def config_toml(tmp: Path, bank_url: str, token_file: Path, modem_link: Path,
                **sections: dict[str, Any]) -> str:
    """A daemon config for tests: fast polls and retries; `sections` override tables."""
    tables: dict[str, dict[str, Any]] = {
        "inbox": {"poll_interval": 2, "multipart_timeout": 60},
        "outbox": {"backoff_initial": 0.2, "backoff_max": 2, "max_attempts": 5},
        "bank": {"url": bank_url, "token_file": str(token_file), "connect_timeout": 2,
                 "read_timeout": 5, "retries": 1, "sync_interval": 2},
        "unknown_sender": {"policy": "refuse_once_per_day"},
        # Confirmation codes off unless a test turns them on (tests/test_e2e_guards.py):
        # the other tests' top-ups of 25 EUR or more are about other things.
        "rules": {"confirm_from": 0},
        # A free port: tests run side by side, each daemon with its own web listener.
        "http": {"listen": "127.0.0.1:0"},
    }
    for name, values in sections.items():
        tables.setdefault(name, {}).update(values)
    # `database={...}` (a [database] table) replaces the default SQLite file's key.
    top = [] if "database" in tables else [f'database = "{tmp / "appliance.sqlite"}"']
    # `modems={name: {...}}` replaces the modem list; `modem={...}` amends the default one.
    modems = tables.pop("modems", None)
    default = {"name": "m1", "port": str(modem_link), "operator": "vala", "command_timeout": 3}
    default.update(tables.pop("modem", {}))
    out = [*top, 'log_level = "info"', ""]
    modem_list: list[dict[str, Any]] = list(modems.values()) if modems else [default]
    for m in modem_list:
        out.append("[[modems]]")
        out.extend(f"{k} = {_toml(v)}" for k, v in m.items())
        out.append("")
    for name, values in tables.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {_toml(v)}" for k, v in values.items())
        out.append("")
    return "\n".join(out)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


@dataclass
class Fakes:
    """The fake bank and fake modem(s) of one test, and how to reach them."""

    tmp: Path
    bank: Any
    modem: Any
    modem_state: Path
    modem_link: Path
    extra_modems: dict[str, Any] = field(default_factory=dict)
    # The daemon's shared PostgreSQL (`store_kind` "postgresql"); None: the SQLite file.
    store_url: str | None = None

    @property
    def store(self) -> Path | str:
        """The daemon's database: its SQLite file, or its PostgreSQL URL (`db_rows`)."""
        return self.store_url or self.tmp / "appliance.sqlite"

    def deliver(self, phone: str, text: str, *, ucs2: bool = False, modem: Any = None,
                **kw: Any) -> list[str]:
        """The network delivers `text` from `phone` to the (first) fake modem."""
        return list((modem or self.modem).deliver(phone, text, ucs2=ucs2, **kw))

    def sent(self, modem: Any = None) -> list[Any]:
        """What the daemon submitted through a fake modem (`SentMessage`s), oldest first."""
        return list((modem or self.modem).sent())

    def sent_to(self, phone: str, modem: Any = None) -> list[str]:
        return [m.text for m in self.sent(modem) if m.to == phone]

    def wait_replies(self, phone: str, n: int = 1, timeout: float = 15.0,
                     modem: Any = None) -> list[str]:
        """Wait until `phone` got at least `n` messages through the fake modem; all of them."""
        def got() -> list[str] | None:
            r = self.sent_to(phone, modem)
            return r if len(r) >= n else None
        return wait_for(got, timeout=timeout, what=f"{n} message(s) to {phone[:7]}...")

    def config(self, **sections: dict[str, Any]) -> Path:
        if self.store_url is not None:
            sections = {"database": {"url": self.store_url, "state_dir": str(self.tmp)},
                        **sections}
        path = self.tmp / "appliance.toml"
        path.write_text(config_toml(self.tmp, self.bank.url, self.bank.token_file,
                                    self.modem_link, **sections), encoding="utf-8")
        return path


def start_fake_modem(state: Path, link: Path, delay: str = "none") -> Any:
    from appliance.fakemodem.server import FakeModemServer

    modem = FakeModemServer(link, state, delay=delay)
    modem.start()
    return modem


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The daemon's database in `fakes`: "sqlite" unless a module parametrizes it
    (`pytest.mark.parametrize("store_kind", STORES, indirect=True)`) or the environment
    asks for another for every test (`APPLIANCE_TEST_STORE=postgresql`)."""
    return str(getattr(request, "param", os.environ.get("APPLIANCE_TEST_STORE", "sqlite")))


# Both databases, for the e2e modules whose flows are the store's (DESIGN §10).
STORES = ("sqlite", "postgresql")


@pytest.fixture
def fakes(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> Iterator[Fakes]:
    """A seeded fake bank and a fake modem on a pty, in tmp_path; the daemon's database
    is a SQLite file there or a fresh PostgreSQL database (`store_kind`)."""
    from appliance.fakebank.server import FakeBankServer

    url = request.getfixturevalue("pg_server").fresh() if store_kind == "postgresql" else None
    bank = FakeBankServer(tmp_path / "bank").start()
    state = tmp_path / "fm"
    link = tmp_path / "modem"
    modem = start_fake_modem(state, link)
    f = Fakes(tmp_path, bank, modem, state, link, store_url=url)
    try:
        yield f
    finally:
        for extra in f.extra_modems.values():
            extra.stop()
        modem.stop()
        bank.close()


@dataclass
class Box:
    """An in-process daemon with its fakes."""

    fakes: Fakes
    daemon: Any
    log_file: Path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fakes, name)


def start_box(fakes: Fakes, **sections: dict[str, Any]) -> Box:
    from appliance.config import load
    from appliance.daemon import Daemon
    from appliance.logs import setup_logging

    log_file = fakes.tmp / "daemon.log"
    setup_logging("INFO", file=log_file)
    settings = load(fakes.config(**sections))
    daemon = Daemon(settings)
    daemon.start(first_sync=True)
    return Box(fakes, daemon, log_file)


def _stop_box(b: Box) -> None:
    b.daemon.stop()
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_appliance", False)]:
        root.removeHandler(h)
        h.close()


@pytest.fixture
def box(fakes: Fakes) -> Iterator[Box]:
    """The whole box, daemon in-process; logs checked for unmasked numbers at the end."""
    b = start_box(fakes)
    try:
        yield b
    finally:
        _stop_box(b)
    assert_logs_masked(b.log_file)


@pytest.fixture
def make_box(fakes: Fakes) -> Iterator[Callable[..., Box]]:
    """Start the box with config overrides: `make_box(outbox={...}, modems={...})`."""
    started: list[Box] = []

    def make(**sections: dict[str, Any]) -> Box:
        b = start_box(fakes, **sections)
        started.append(b)
        return b

    try:
        yield make
    finally:
        for b in started:
            _stop_box(b)
    for b in started:
        assert_logs_masked(b.log_file)


class DaemonProc:
    """`appliance run --config FILE` in a subprocess; its log is `log_file`."""

    def __init__(self, config: Path, log_file: Path) -> None:
        self.config = config
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None, extra_env: dict[str, str] | None = None
              ) -> DaemonProc:
        env = dict(os.environ)
        env.pop("APPLIANCE_CRASH_AT", None)
        env.pop("NOTIFY_SOCKET", None)
        if crash_at:
            env["APPLIANCE_CRASH_AT"] = crash_at
        env.update(extra_env or {})
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from appliance.cli import main; main()", "run",
             "--config", str(self.config)],
            stdout=log, stderr=log, env=env,
        )
        log.close()
        return self

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def daemon_proc(fakes: Fakes) -> Iterator[DaemonProc]:
    """A (not yet started) daemon subprocess over `fakes`; killed and log-checked at the end."""
    dp = DaemonProc(fakes.tmp / "appliance.toml", fakes.tmp / "daemon-proc.log")
    try:
        yield dp
    finally:
        dp.kill()
    assert_logs_masked(dp.log_file)


# --- shared by the store and bank test modules ------------------------------------------

STORE_FILE = "store.sqlite"  # the `db` fixture's file under tmp_path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """This worker's PostgreSQL server (tests/pg.py), started on first use."""
    from tests.pg import PgServer

    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's database lives: a SQLite file in tmp_path, or a fresh database on
    the worker's PostgreSQL server; the tests that take it run against both."""
    if request.param == "sqlite":
        return str(tmp_path / STORE_FILE)
    server = request.getfixturevalue("pg_server")
    return str(server.fresh())


@pytest.fixture
def db(store_target: str) -> Iterator[Any]:
    """The appliance's database, migrated, models bound: a real SQLite file in tmp_path
    or a real PostgreSQL database (`store_target`)."""
    from appliance.store import open_database

    database = open_database(store_target)
    yield database
    database.close()


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Any]:
    """The fake bank on loopback, seeded with the demo data, in tmp_path/bank."""
    from appliance.fakebank.server import FakeBankServer

    server = FakeBankServer(tmp_path / "bank").start()
    yield server
    server.close()


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger (no propagation) whose handlers are closed after the test."""
    log = logging.getLogger(f"test.logs.{id(object())}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
