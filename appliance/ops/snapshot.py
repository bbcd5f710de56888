"""The daemon's health snapshot: what it knows about each modem, for doctor and status.

While the daemon runs it holds the serial ports, so `doctor` and `status` cannot ask the
modems themselves. The daemon therefore records what it learns in a small JSON file next
to the database (``<database dir>/health.json``, i.e. /var/lib/appliance/health.json),
replaced atomically::

    {"pid": 1234, "written_at": "2026-11-27T12:00:00+00:00", "started_at": "...",
     "modems": {"vala": {"name": "vala", "port": "/dev/gsm-vala", "healthy": true,
                          "checked_at": "...", "manufacturer": "huawei", "model": "E3372",
                          "firmware": "22.200", "imei": "...", "imsi": "...",
                          "imsi_previous": null, "pin_state": "READY",
                          "registration": "home", "operator": "Vala", "signal_dbm": -71,
                          "storage_used": 2, "storage_total": 30, "smsc": "+383...",
                          "last_error": null}}}

The daemon's side is two calls (docs/operations.md):
``facts = collect_facts(name, port, modem, now=now, previous_imsi=...)`` with the wrapper
`Modem` it holds (under its port lock; each fact is asked separately so one failing AT
command loses only that fact), then ``write_snapshot(path, facts_list, now)`` after every
health check (and at least every minute, so the file's age shows the daemon is alive).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from appliance.ops.checks import normalize_registration

SNAPSHOT_NAME = "health.json"

T = TypeVar("T")


def snapshot_path(database: Path) -> Path:
    """Where the daemon keeps its snapshot: next to the database (the state directory)."""
    return Path(database).parent / SNAPSHOT_NAME


@dataclass(frozen=True)
class ModemFacts:
    """What one modem said at `checked_at`; None for anything it did not (or could not) say.

    `registration` is one of ``home``, ``roaming``, ``searching``, ``denied``,
    ``not_registered``, ``unknown``. `imsi_previous` is set when the SIM's IMSI differs
    from the one recorded before (a swapped SIM).
    """

    name: str
    port: str
    healthy: bool
    checked_at: datetime
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    imei: str | None = None
    imsi: str | None = None
    imsi_previous: str | None = None
    pin_state: str | None = None
    registration: str | None = None
    operator: str | None = None
    signal_dbm: int | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    smsc: str | None = None
    last_error: str | None = None

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["checked_at"] = self.checked_at.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ModemFacts:
        # Read back from disk, so each field is narrowed to its type (ValueError if not).
        healthy = data["healthy"]
        if not isinstance(healthy, bool):
            raise ValueError("healthy must be a boolean")

        def text(key: str) -> str | None:
            return _opt(data.get(key), str)

        def number(key: str) -> int | None:
            return _opt(data.get(key), int)

        return cls(
            name=_req(data["name"]), port=_req(data["port"]), healthy=healthy,
            checked_at=_time(data["checked_at"]), manufacturer=text("manufacturer"),
            model=text("model"), firmware=text("firmware"), imei=text("imei"),
            imsi=text("imsi"), imsi_previous=text("imsi_previous"),
            pin_state=text("pin_state"), registration=text("registration"),
            operator=text("operator"), signal_dbm=number("signal_dbm"),
            storage_used=number("storage_used"), storage_total=number("storage_total"),
            smsc=text("smsc"), last_error=text("last_error"),
        )


def _opt(value: object, kind: type[T]) -> T | None:
    if value is None or isinstance(value, kind):
        return value
    raise ValueError(f"expected {kind.__name__} or null, got {value!r}")


def _req(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


@dataclass(frozen=True)
class Snapshot:
    pid: int
    written_at: datetime
    started_at: datetime | None = None
    modems: dict[str, ModemFacts] = field(default_factory=dict)

    def age(self, now: datetime) -> float:
        """Seconds since the daemon last wrote it."""
        return max(0.0, (now - self.written_at).total_seconds())


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("time must be an ISO 8601 string")
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise ValueError(f"time without offset: {value!r}")
    return ts


def write_snapshot(path: Path, modems: Iterable[ModemFacts], now: datetime, *,
                   pid: int | None = None, started_at: datetime | None = None) -> None:
    """Replace the snapshot at `path` atomically (readers never see half a file)."""
    body = {
        "pid": os.getpid() if pid is None else pid,
        "written_at": now.isoformat(),
        "started_at": None if started_at is None else started_at.isoformat(),
        "modems": {m.name: m.to_json() for m in modems},
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".health.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)  # the state dir's files are the service user's alone
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_snapshot(path: Path) -> Snapshot | None:
    """The snapshot at `path`, or None when there is none or it cannot be read."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        modems = {str(k): ModemFacts.from_json(v) for k, v in data.get("modems", {}).items()}
        started = data.get("started_at")
        return Snapshot(
            pid=int(data["pid"]),
            written_at=_time(data["written_at"]),
            started_at=None if started is None else _time(started),
            modems=modems,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (ours to signal or not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_holders(port: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of the processes that have the device `port` open (as far as we may look).

    A second program on a modem's serial port corrupts both conversations, so doctor asks
    this before it opens a port itself.
    """
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    holders: list[int] = []
    me = os.getpid()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    holders.append(int(entry.name))
                    break
            except OSError:
                continue
    return holders


def processes_named(name: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of the processes whose name (`comm`) is `name`."""
    found = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if entry.name.isdigit() and process_name(int(entry.name), proc) == name:
            found.append(int(entry.name))
    return sorted(found)


def process_name(pid: int, proc: Path = Path("/proc")) -> str:
    try:
        return (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


# --- gathering facts from a wrapper `Modem` ---------------------------------------------


def _ask(call: Callable[[], T], errors: list[str]) -> T | None:
    try:
        return call()
    except Exception as exc:  # one fact failing must not lose the others
        errors.append(f"{type(exc).__name__}: {exc}")
        return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value)).strip()
    return text or None


class FactSource(Protocol):
    """What `collect_facts` asks of an open wrapper `Modem` (`pin_state` is optional)."""

    def info(self) -> object: ...
    def imsi(self) -> object: ...
    def registration(self) -> object: ...
    def operator_name(self) -> object: ...
    def signal_dbm(self) -> object: ...
    def storage_usage(self) -> object: ...
    def smsc(self) -> object: ...


def collect_facts(name: str, port: str, modem: FactSource, *, now: datetime,
                  previous_imsi: str | None = None, healthy: bool = True) -> ModemFacts:
    """Ask an open wrapper `Modem` everything doctor shows; each question on its own.

    `previous_imsi` is the IMSI recorded before (store `ModemRecord`); when it differs
    from the SIM's, the facts carry it as `imsi_previous` (a swapped SIM).
    """
    errors: list[str] = []
    info = _ask(modem.info, errors)
    pin_state = _ask(modem.pin_state, errors) if hasattr(modem, "pin_state") else None
    imsi = _text(_ask(modem.imsi, errors))
    registration = _ask(modem.registration, errors)
    operator = _text(_ask(modem.operator_name, errors))
    signal = _ask(modem.signal_dbm, errors)
    usage = _ask(modem.storage_usage, errors)
    smsc = _text(_ask(modem.smsc, errors))
    used, total = _storage_numbers(usage)
    facts = ModemFacts(
        name=name,
        port=port,
        healthy=healthy,
        checked_at=now,
        manufacturer=_text(getattr(info, "manufacturer", None)),
        model=_text(getattr(info, "model", None)),
        firmware=_text(getattr(info, "revision", getattr(info, "firmware", None))),
        imei=_text(getattr(info, "imei", None)),
        imsi=imsi,
        pin_state=_text(pin_state) or ("READY" if imsi else None),
        registration=normalize_registration(registration),
        operator=operator,
        signal_dbm=signal if isinstance(signal, int) else None,
        storage_used=used,
        storage_total=total,
        smsc=smsc,
        last_error="; ".join(errors[:3]) or None,
    )
    if previous_imsi and imsi and previous_imsi != imsi:
        facts = replace(facts, imsi_previous=previous_imsi)
    return facts


def _storage_numbers(usage: object) -> tuple[int | None, int | None]:
    """(used, total) from whatever `storage_usage()` returns: a pair, or an object/dict."""
    if usage is None:
        return None, None
    if isinstance(usage, tuple | list) and len(usage) >= 2 and all(
            isinstance(x, int) for x in usage[:2]):
        return int(usage[0]), int(usage[1])
    if isinstance(usage, dict):
        # Per storage ({"SM": (used, total), "ME": ...}): report the fullest one, since a
        # full storage is what stops new messages arriving.
        pairs = [(int(v[0]), int(v[1])) for v in usage.values()
                 if isinstance(v, tuple | list) and len(v) >= 2 and int(v[1]) > 0]
        if pairs:
            return max(pairs, key=lambda p: (p[0] / p[1], p[0]))
        return None, None
    used = getattr(usage, "used", None)
    total = getattr(usage, "total", None)
    if isinstance(used, int) and isinstance(total, int):
        return used, total
    return None, None
