"""`appliance fake-bank`: run the fake bank, book movements, report SIM swaps, list cards,
inject faults (DESIGN §9).

`movement`, `sim-swap`, `cards` and `fault` reach a running fake bank through its admin side
(`control.AdminClient`); with no bank running, `movement` and `sim-swap` write straight into
`STATE_DIR/fakebank.sqlite`, which the bank serves when it starts, and `cards` reads it.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from appliance.clitexts import t
from appliance.fakebank.control import AdminClient
from appliance.fakebank.ledger import (
    CENT,
    TYPE_CODES,
    FakeBankDB,
    FakeBankError,
    seed_account_ids,
    seed_phones,
)
from appliance.fakebank.server import (
    DB_NAME,
    DEFAULT_SEED,
    FAULT_MODES,
    FakeBankServer,
    normalize_fault,
)
from appliance.fakebank.values import JsonObject, is_e164

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

    def _on_signal(signum: int, frame: FrameType | None) -> None:
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


@contextmanager
def _offline_ledger(state_dir: Path, known: Callable[[Path | None], bool],
                    refusal: str) -> Iterator[FakeBankDB]:
    """The ledger at `state_dir` when no bank serves it. A new ledger would be the seed's:
    when `known(seed)` is false the refusal is one line, exit 2, before anything is created
    (a typo outside a demo dir must not leave a ./demo-state behind). Says on stderr where
    the write went (stdout stays the answer alone for scripts)."""
    ledger = state_dir / DB_NAME
    seed = DEFAULT_SEED if DEFAULT_SEED.exists() else None
    if not ledger.exists() and not known(seed):
        _fail(refusal)
    new = "" if ledger.exists() else t("bank.new_ledger")
    db = FakeBankDB(ledger)
    try:
        if not db.is_seeded():
            db.seed_from_yaml(seed)
        yield db
    finally:
        db.close()
    click.echo(t("bank.booked_offline", state_dir=state_dir, ledger=ledger, new=new), err=True)


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
    admin = AdminClient.for_state_dir(state_dir)
    try:
        if admin is not None:
            with admin:
                movement_id = admin.book_movement(account_id, value, type_)
        else:
            with _offline_ledger(
                state_dir, lambda seed: account_id in seed_account_ids(seed),
                t("bank.unknown_account", account=account_id),
            ) as db:
                movement_id = db.book_movement(account_id, value, type_)
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
    admin = AdminClient.for_state_dir(state_dir)
    if admin is None:
        _fail(t("bank.not_running", state_dir=state_dir), code=1)
    try:
        with admin:
            now = admin.set_fault(canonical, count=count, delay=delay)
    except FakeBankError as exc:
        _fail(t("bank.admin_failed", error=exc.message), code=1)
    click.echo(t("bank.fault_set", mode=now["mode"], count=now["count"] or "-",
                 delay=now["delay"]))


@fake_bank.command("sim-swap")
@_STATE_DIR
@click.option("--phone", required=True, help="The agreement's phone, E.164 (+38344123456).")
@click.option("--at", "at", default=None,
              help="When the SIM changed, ISO 8601 with an offset (default: now).")
def sim_swap(state_dir: Path, phone: str, at: str | None) -> None:
    """The operator reports a new SIM behind PHONE: its agreements carry `sim_changed_at`."""
    if not is_e164(phone):
        _fail(t("bank.bad_phone", value=phone))
    when: datetime | None = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            _fail(t("bank.bad_time", value=at))
    admin = AdminClient.for_state_dir(state_dir)
    try:
        if admin is not None:
            with admin:
                done = admin.sim_swap(phone, when)
        else:
            with _offline_ledger(state_dir, lambda seed: phone in seed_phones(seed),
                                 t("bank.unknown_phone", phone=phone)) as db:
                done = db.sim_swap(phone, when)
    except FakeBankError as exc:
        if exc.code == "unknown_phone":
            _fail(t("bank.unknown_phone", phone=phone))
        _fail(t("bank.admin_failed", error=exc.message), code=1)
    agreements = done.get("agreements")
    click.echo(t("bank.sim_swapped", phone=phone, at=done.get("sim_changed_at"),
                 agreements=", ".join(map(str, agreements))
                 if isinstance(agreements, list) else ""))


@fake_bank.command("cards")
@_STATE_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def cards(state_dir: Path, as_json: bool) -> None:
    """The bank's cards and their status (the seed's when no bank ran in DIR yet)."""
    for card in _cards(state_dir):
        if as_json:
            click.echo(json.dumps(card, ensure_ascii=False))
            continue
        phones = card.get("phones")
        click.echo(t("bank.card_line", id=card["id"], last4=card["last4"],
                     status=card["status"], customer=card["customer"],
                     phones=" ".join(map(str, phones)) if isinstance(phones, list) else ""))


def _cards(state_dir: Path) -> list[JsonObject]:
    admin = AdminClient.for_state_dir(state_dir)
    if admin is not None:
        with admin:
            try:
                return admin.cards()
            except FakeBankError as exc:
                _fail(t("bank.admin_failed", error=exc.message), code=1)
    ledger = state_dir / DB_NAME
    if ledger.exists():
        db = FakeBankDB(ledger)
        try:
            return db.cards()
        finally:
            db.close()
    # No ledger yet: what one would hold, from the seed, without creating anything here.
    with tempfile.TemporaryDirectory() as tmp:
        db = FakeBankDB(Path(tmp) / DB_NAME)
        try:
            db.seed_from_yaml(DEFAULT_SEED if DEFAULT_SEED.exists() else None)
            return db.cards()
        finally:
            db.close()
