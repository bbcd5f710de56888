"""Doctor's verdicts: pure functions from observed facts to a row (status, detail, advice).

No I/O here: `doctor.py` gathers the facts (config, database, modem, bank) and these
functions judge them, so every threshold is tested without hardware. Texts come from
`appliance.clitexts.ops` (Albanian and English).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from appliance.clitexts import t

# Signal thresholds (dBm): at or above GOOD is fine; down to WEAK works but loses
# messages at busy hours; below WEAK (or unknown) is a failure.
SIGNAL_GOOD_DBM = -85
SIGNAL_WEAK_DBM = -100
# Free disk below these is a warning / a failure (bytes).
DISK_WARN_BYTES = 500 * 1024 * 1024
DISK_FAIL_BYTES = 100 * 1024 * 1024
# SMS storage used at or above this fraction is a warning (full is a failure).
STORAGE_WARN_FRACTION = 0.8
# Clock skew against the bank's Date header (seconds).
SKEW_WARN_SECONDS = 30
SKEW_FAIL_SECONDS = 120
# A health snapshot older than this (seconds) is stale: the daemon may be stuck.
SNAPSHOT_STALE_SECONDS = 180


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One row of doctor's table. `id` is stable for scripts (`modem.vala.signal`)."""

    id: str
    check: str
    status: Status
    detail: str
    advice: str = ""

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["status"] = self.status.value
        return out


def row(check_id: str, label: str, status: Status, detail: str, advice: str = "") -> Check:
    """A row; a small helper so callers read as a table."""
    return Check(check_id, label, status, detail, advice)


def exit_code(checks: list[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not fail)."""
    return 1 if any(c.status is Status.FAIL for c in checks) else 0


# --- modem ---------------------------------------------------------------------------


def port_absent(prefix: str, label: str, port: str) -> Check:
    """The modem's device is not there (unplugged, renamed, or the stick crashed)."""
    return row(f"{prefix}.port", label, Status.FAIL, t("ops.port.absent", port=port),
               t("ops.advice.modem_recover"))


def no_answer(prefix: str, label: str, error: str) -> Check:
    """The port opened but the modem does not answer `AT`."""
    return row(f"{prefix}.at", label, Status.FAIL, t("ops.at.silent", error=error),
               t("ops.advice.modem_recover"))


def signal_verdict(prefix: str, label: str, dbm: int | None) -> Check:
    """>= -85 dBm good; -86..-100 weak (warning); below -100 or unknown: failure."""
    cid = f"{prefix}.signal"
    if dbm is None:
        return row(cid, label, Status.FAIL, t("ops.signal.unknown"), t("ops.advice.antenna"))
    if dbm >= SIGNAL_GOOD_DBM:
        return row(cid, label, Status.OK, t("ops.signal.good", dbm=dbm))
    if dbm >= SIGNAL_WEAK_DBM:
        return row(cid, label, Status.WARN, t("ops.signal.weak", dbm=dbm), t("ops.advice.antenna"))
    return row(cid, label, Status.FAIL, t("ops.signal.bad", dbm=dbm), t("ops.advice.antenna"))


def pin_verdict(prefix: str, label: str, state: str | None, pin_file: str | None) -> Check:
    """`+CPIN?`: READY is fine; SIM PIN wants the PIN file; PUK/other need a person."""
    cid = f"{prefix}.pin"
    norm = (state or "").strip().upper()
    if norm == "READY":
        return row(cid, label, Status.OK, t("ops.pin.ready"))
    if norm in ("SIM PIN", "PH-SIM PIN"):
        advice = (t("ops.advice.pin_wrong", pin_file=pin_file) if pin_file
                  else t("ops.advice.pin_missing"))
        return row(cid, label, Status.FAIL, t("ops.pin.asks", state=norm), advice)
    if "PUK" in norm:
        return row(cid, label, Status.FAIL, t("ops.pin.asks", state=norm), t("ops.advice.puk"))
    if not norm or "NOT INSERTED" in norm:
        return row(cid, label, Status.FAIL, t("ops.pin.no_sim"), t("ops.advice.no_sim"))
    return row(cid, label, Status.FAIL, t("ops.pin.asks", state=norm), t("ops.advice.puk"))


def imsi_verdict(prefix: str, label: str, imsi: str | None, previous: str | None) -> Check:
    """The SIM's IMSI against the one recorded before: a change is a security event."""
    cid = f"{prefix}.imsi"
    if not imsi:
        return row(cid, label, Status.WARN, t("ops.imsi.unknown"), t("ops.advice.no_sim"))
    if previous is None:
        return row(cid, label, Status.OK, t("ops.imsi.first", imsi=imsi))
    if previous != imsi:
        # A swapped SIM is a security event (someone could read the bank's traffic with
        # the old one, or route it through theirs): red until the next run records it.
        return row(cid, label, Status.FAIL, t("ops.imsi.changed", imsi=imsi, previous=previous),
                   t("ops.advice.sim_changed"))
    return row(cid, label, Status.OK, t("ops.imsi.same", imsi=imsi))


# Registration states as the wrapper / snapshot name them (3GPP 27.007 +CREG <stat>).
_CREG_NAMES = {
    "0": "not_registered", "1": "home", "2": "searching", "3": "denied", "4": "unknown",
    "5": "roaming",
}


def normalize_registration(state: object) -> str:
    """`home`, `roaming`, `searching`, `denied`, `not_registered` or `unknown`."""
    if state is None:
        return "unknown"
    # The wrapper's `Registration(status=1, ...)`, an enum, or a plain string/number.
    value = getattr(state, "status", getattr(state, "value", getattr(state, "name", state)))
    text = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    text = _CREG_NAMES.get(text, text)
    aliases = {
        "registered_home": "home", "registered": "home", "home_network": "home",
        "registered_roaming": "roaming", "not_searching": "not_registered",
        "notregistered": "not_registered", "registration_denied": "denied",
    }
    text = aliases.get(text, text)
    known = {"home", "roaming", "searching", "denied", "not_registered", "unknown"}
    return text if text in known else "unknown"


def registration_verdict(prefix: str, label: str, state: object,
                         operator: str | None) -> Check:
    """Registered at home is fine, roaming a warning, anything else a failure."""
    cid = f"{prefix}.registration"
    reg = normalize_registration(state)
    op = operator or "?"
    if reg == "home":
        return row(cid, label, Status.OK, t("ops.reg.home", operator=op))
    if reg == "roaming":
        return row(cid, label, Status.WARN, t("ops.reg.roaming", operator=op),
                   t("ops.advice.roaming"))
    if reg == "denied":
        return row(cid, label, Status.FAIL, t("ops.reg.denied"), t("ops.advice.reg_denied"))
    return row(cid, label, Status.FAIL, t("ops.reg.none", state=reg), t("ops.advice.reg_none"))


def storage_verdict(prefix: str, label: str, used: int | None, total: int | None) -> Check:
    """SMS storage: full is a failure (no new message will arrive), nearly full a warning."""
    cid = f"{prefix}.storage"
    if used is None or not total:
        return row(cid, label, Status.WARN, t("ops.storage.unknown"))
    if used >= total:
        return row(cid, label, Status.FAIL, t("ops.storage.full", used=used, total=total),
                   t("ops.advice.storage_full"))
    if used >= STORAGE_WARN_FRACTION * total:
        return row(cid, label, Status.WARN, t("ops.storage.nearly", used=used, total=total),
                   t("ops.advice.storage_full"))
    return row(cid, label, Status.OK, t("ops.storage.ok", used=used, total=total))


def smsc_verdict(prefix: str, label: str, smsc: str | None) -> Check:
    cid = f"{prefix}.smsc"
    if not smsc:
        return row(cid, label, Status.FAIL, t("ops.smsc.none"), t("ops.advice.smsc"))
    return row(cid, label, Status.OK, smsc)


def identity_verdict(prefix: str, label: str, manufacturer: str | None, model: str | None,
                     firmware: str | None) -> Check:
    cid = f"{prefix}.model"
    parts = [p for p in (manufacturer, model) if p]
    if not parts:
        return row(cid, label, Status.WARN, t("ops.model.unknown"))
    return row(cid, label, Status.OK,
               t("ops.model.ok", model=" ".join(parts), firmware=firmware or "?"))


# --- database and disk ---------------------------------------------------------------


def integrity_verdict(result: str) -> Check:
    label = t("ops.label.db_integrity")
    if result.strip().lower() == "ok":
        return row("database.integrity", label, Status.OK, "ok")
    return row("database.integrity", label, Status.FAIL, result.splitlines()[0][:200],
               t("ops.advice.db_restore"))


def wal_verdict(journal_mode: str) -> Check:
    label = t("ops.label.db_wal")
    if journal_mode.strip().lower() == "wal":
        return row("database.wal", label, Status.OK, "wal")
    return row("database.wal", label, Status.FAIL, journal_mode, t("ops.advice.db_wal"))


def disk_verdict(path: str, free_bytes: int, total_bytes: int) -> Check:
    label = t("ops.label.disk")
    mib = free_bytes // (1024 * 1024)
    detail = t("ops.disk.free", mib=mib, path=path,
               pct=round(100 * free_bytes / total_bytes) if total_bytes else 0)
    if free_bytes < DISK_FAIL_BYTES:
        return row("disk", label, Status.FAIL, detail, t("ops.advice.disk"))
    if free_bytes < DISK_WARN_BYTES:
        return row("disk", label, Status.WARN, detail, t("ops.advice.disk"))
    return row("disk", label, Status.OK, detail)


# --- bank ----------------------------------------------------------------------------


def skew_verdict(skew_seconds: float | None) -> Check:
    """Local clock minus the bank's (its Date header): TLS, alerts and caps need both right."""
    label = t("ops.label.bank_clock")
    if skew_seconds is None:
        return row("bank.clock", label, Status.WARN, t("ops.clock.unknown"))
    skew = round(skew_seconds)
    detail = t("ops.clock.skew", skew=f"{skew:+d}")
    if abs(skew_seconds) > SKEW_FAIL_SECONDS:
        return row("bank.clock", label, Status.FAIL, detail, t("ops.advice.clock"))
    if abs(skew_seconds) > SKEW_WARN_SECONDS:
        return row("bank.clock", label, Status.WARN, detail, t("ops.advice.clock"))
    return row("bank.clock", label, Status.OK, detail)
