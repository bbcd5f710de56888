"""`appliance fake-bank`: run the fake bank, book movements at it, inject faults (DESIGN §9).

`movement` and `fault` reach a running fake bank through its admin endpoint (its URL is in
`STATE_DIR/fakebank.json`, its token in `STATE_DIR/bank-token`); with no bank running,
`movement` books straight into `STATE_DIR/fakebank.sqlite`, which the bank serves when it
starts.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from appliance.clitexts import t
from appliance.fakebank.ledger import (
    CENT,
    TYPE_CODES,
    FakeBankDB,
    FakeBankError,
    seed_account_ids,
)
from appliance.fakebank.server import (
    DB_NAME,
    DEFAULT_SEED,
    FAULT_MODES,
    INFO_NAME,
    TOKEN_NAME,
    FakeBankServer,
    normalize_fault,
)

_STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-state"),
    show_default=True,
    help="Directory of the fake bank's state (database, token, address).",
)


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@click.group("fake-bank")
def fake_bank() -> None:
    """The fake bank on loopback: serve it, book movements, inject faults."""


@fake_bank.command("serve")
@_STATE_DIR
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port (0: any free port).")
@click.option("--seed", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Seed YAML for a new bank (default {DEFAULT_SEED.name}).")
def serve(state_dir: Path, host: str, port: int, seed: Path | None) -> None:
    """Serve the fake bank in the foreground until SIGINT/SIGTERM."""
    server = FakeBankServer(state_dir, seed=seed, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        server.close()
        _fail(t("bank.port_busy", port=port, error=exc))
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    click.echo(t("bank.serving", url=server.url, token_file=server.token_file,
                 state_dir=state_dir))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
    click.echo(t("bank.stopped"))


def _running(state_dir: Path) -> tuple[str, str] | None:
    """(url, token) of a fake bank that answers for this state dir, or None."""
    info_file = state_dir / INFO_NAME
    token_file = state_dir / TOKEN_NAME
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
        token = token_file.read_text(encoding="utf-8").strip()
        url = str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        response = httpx.get(f"{url}/_fake/health", headers={"Authorization": f"Bearer {token}"},
                             timeout=2.0)
    except httpx.HTTPError:
        return None  # a stale file from a bank that died
    return (url, token) if response.status_code == 200 else None


def _admin(url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}{path}", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
    data: dict[str, Any] = response.json()
    if response.status_code >= 400:
        raise FakeBankError(response.status_code, str(data.get("error")),
                            str(data.get("message")))
    return data


@fake_bank.command("movement")
@_STATE_DIR
@click.option("--account", "account_id", required=True, help="The bank's account id (A1001).")
@click.option("--amount", required=True, help="Signed amount: -12.50 is a debit.")
@click.option("--type", "type_", required=True,
              help=f"The bank's type code: {', '.join(TYPE_CODES)} (another is booked as given).")
def movement(state_dir: Path, account_id: str, amount: str, type_: str) -> None:
    """Book a new movement at the fake bank; print its id."""
    try:
        value = Decimal(amount.replace(",", "."))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value != value.quantize(CENT) or value == 0:
        _fail(t("bank.bad_amount", value=amount))
    running = _running(state_dir)
    try:
        if running is not None:
            url, token = running
            movement_id = str(_admin(url, token, "/_fake/movements", {
                "account_id": account_id, "amount": str(value), "type": type_,
            })["id"])
        else:
            # Say so on stderr: a mistyped --state-dir would otherwise book, silently, into
            # a new ledger that nobody serves (stdout stays the movement id alone).
            ledger = state_dir / DB_NAME
            seed = DEFAULT_SEED if DEFAULT_SEED.exists() else None
            # A new ledger would be the seed's: refuse an account it lacks before creating
            # anything (a typo outside a demo dir must not leave a ./demo-state behind).
            if not ledger.exists() and account_id not in seed_account_ids(seed):
                _fail(t("bank.unknown_account", account=account_id))
            new = "" if ledger.exists() else t("bank.new_ledger")
            db = FakeBankDB(ledger)
            try:
                if not db.is_seeded():
                    db.seed_from_yaml(seed)
                movement_id = db.book_movement(account_id, value, type_)
            finally:
                db.close()
            click.echo(t("bank.booked_offline", state_dir=state_dir, ledger=ledger, new=new),
                       err=True)
    except FakeBankError as exc:
        if exc.code == "unknown_account":
            _fail(t("bank.unknown_account", account=account_id))
        _fail(t("bank.admin_failed", error=exc.message), code=1)
    if type_ not in TYPE_CODES:
        # Booked all the same: a real bank may add codes, and the box must cope with them.
        click.echo(t("bank.unlisted_type", value=type_, codes=", ".join(TYPE_CODES)), err=True)
    click.echo(movement_id)


@fake_bank.command("fault")
@_STATE_DIR
@click.argument("mode")
@click.option("--count", type=click.IntRange(1), default=None,
              help="Only the next N requests it applies to (default: until cleared).")
@click.option("--delay", type=click.FloatRange(0), default=None,
              help="Seconds, for slow, timeout_after_debit and refuse.")
def fault(state_dir: Path, mode: str, count: int | None, delay: float | None) -> None:
    """Inject a fault into the running fake bank: none, down (503), error500, slow,
    timeout_after_debit, refuse (connections refused for --delay seconds, default 10)."""
    try:
        canonical = normalize_fault(mode)
    except ValueError:
        _fail(t("bank.bad_fault", modes=", ".join(FAULT_MODES), value=mode))
    running = _running(state_dir)
    if running is None:
        _fail(t("bank.not_running", state_dir=state_dir), code=1)
    url, token = running
    body: dict[str, Any] = {"mode": canonical}
    if count is not None:
        body["count"] = count
    if delay is not None:
        body["delay"] = delay
    try:
        now = _admin(url, token, "/_fake/fault", body)
    except FakeBankError as exc:
        _fail(t("bank.admin_failed", error=exc.message), code=1)
    click.echo(t("bank.fault_set", mode=now["mode"], count=now["count"] or "-",
                 delay=now["delay"]))
