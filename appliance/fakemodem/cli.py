"""`appliance fake-modem ...`: serve a fake modem on a pty and drive it (DESIGN §9)."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from appliance.clitexts import t
from appliance.fakemodem.control import ControlClient, ControlError, FakeModemNotRunning
from appliance.fakemodem.faults import FAULT_KINDS
from appliance.fakemodem.model import FaultParam, ModemConfig
from appliance.fakemodem.server import SOCKET_NAME, FakeModemServer

_STATE_DIR = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-state"), show_default=True,
    help="Directory of the fake modem's control socket.")


@contextmanager
def _client(state_dir: Path) -> Iterator[ControlClient]:
    """A control client; a missing modem or a refusal is one line on stderr, exit 1."""
    try:
        yield ControlClient(state_dir)
    except FakeModemNotRunning:
        click.echo(t("fakemodem.not_running", state_dir=state_dir), err=True)
        sys.exit(1)
    except ControlError as exc:
        click.echo(t("fakemodem.refused", error=exc), err=True)
        sys.exit(1)


@click.group(name="fake-modem")
def fake_modem() -> None:
    """A fake GSM modem on a pty, for the daemon, gammu, picocom or tests."""


@fake_modem.command()
@click.option("--link", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Symlink to create to the pty (as socat's link=).")
@_STATE_DIR
@click.option("--modem-delay", type=click.Choice(["none", "realistic"]), default="none",
              show_default=True, help="Answer at once, or as slowly as a real modem.")
@click.option("--pin", default=None, help="The SIM asks for this PIN (AT+CPIN) first.")
@click.option("--seed", type=int, default=None, help="Seed of the realistic delays.")
@click.option("--name", default="modem", show_default=True, help="Name in logs.")
@click.option("--time-scale", "time_scale", default="1", show_default=True,
              help="Run the delay model this many times faster/slower (0.01: 100x faster).")
def serve(link: Path, state_dir: Path, modem_delay: str, pin: str | None,  # noqa: PLR0917
          seed: int | None, name: str, time_scale: str) -> None:
    """Run a fake modem until SIGINT/SIGTERM."""
    server = FakeModemServer(link, state_dir, modem_delay, name=name, seed=seed,
                             config=ModemConfig(pin=pin), time_scale=_time_scale(time_scale))
    try:
        server.start()
    except OSError as exc:
        click.echo(t("fakemodem.port_busy", error=exc), err=True)
        sys.exit(1)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        click.echo(t("fakemodem.serving", pty=server.pty_path, link=link,
                     socket=state_dir / SOCKET_NAME))
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(t("fakemodem.stopped"))


def _time_scale(value: str) -> float:
    """--time-scale as a number > 0 (one line naming the option and exit 2 otherwise)."""
    try:
        scale = float(value)
    except ValueError:
        scale = float("nan")
    if not (scale > 0 and math.isfinite(scale)):
        click.echo(t("fakemodem.bad_time_scale", value=value), err=True)
        sys.exit(2)
    return scale


def _smsc(value: str) -> str:
    """--smsc as a number (blanks dropped); anything else is bad usage."""
    compact = "".join(value.split())
    digits = compact.removeprefix("+")
    if not (digits.isdigit() and digits.isascii() and len(digits) <= 20):
        click.echo(t("fakemodem.bad_smsc", value=value), err=True)
        sys.exit(2)
    return compact


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise click.BadParameter("expected part numbers like 2,1,3") from exc


# 3GPP 23.040: an alphanumeric originator is at most 11 GSM-7 characters.
_MAX_ALPHANUMERIC = 11


def _sender(value: str) -> str:
    """The sender as the network would show it: a number written with blanks
    (`+383 44 123 456`) is that number; empty or over-long names are bad usage."""
    compact = "".join(value.split())
    digits = compact[1:] if compact.startswith("+") else compact
    if digits.isdigit() and digits.isascii():
        return compact
    if not value.strip() or len(value) > _MAX_ALPHANUMERIC:
        click.echo(t("fakemodem.bad_sender", value=value), err=True)
        sys.exit(2)
    return value


@fake_modem.command()
@_STATE_DIR
@click.option("--from", "sender", default=None, help="Sender number (or alphanumeric).")
@click.option("--ucs2", is_flag=True, help="Deliver as UCS-2 even when GSM-7 would do.")
@click.option("--pdu", "pdu", default=None, help="Store this PDU (hex, SMSC included) as is.")
@click.option("--storage", type=click.Choice(["SM", "ME"], case_sensitive=False),
              default=None, help="Storage to put it in (default: as AT+CPMS says).")
@click.option("--parts-order", default=None, help="Arrival order of parts, e.g. 2,1,3.")
@click.option("--drop-part", type=int, default=None, help="This part never arrives.")
@click.option("--smsc", default=None,
              help="Service centre the PDU carries (default: the modem's own +CSCA).")
@click.argument("words", nargs=-1, metavar="TEXT")
def deliver(state_dir: Path, sender: str | None, ucs2: bool, pdu: str | None,  # noqa: PLR0917
            storage: str | None, parts_order: str | None, drop_part: int | None,
            smsc: str | None, words: tuple[str, ...]) -> None:
    """The modem receives TEXT from --from as the network delivers it, or a raw --pdu."""
    # `deliver --from N BLLOKO 4821` is the text `BLLOKO 4821`, as a person types it
    # (one quoted argument keeps its own blanks).
    text = " ".join(words) if words else None
    as_pdu = pdu is not None and sender is None and text is None and smsc is None
    as_text = pdu is None and sender is not None and text is not None
    if not (as_pdu or as_text):
        click.echo(t("fakemodem.usage_deliver"), err=True)
        sys.exit(2)
    if sender is not None:
        sender = _sender(sender)
    if smsc is not None:
        smsc = _smsc(smsc)
    with _client(state_dir) as client:
        if pdu is not None:
            client.deliver_pdu(pdu, storage=storage)
            click.echo(t("fakemodem.pdu_stored"))
            return
        sender, text = str(sender), str(text)
        pdus = client.deliver(sender, text, ucs2=ucs2, storage=storage,
                              parts_order=_int_list(parts_order), drop_part=drop_part,
                              smsc=smsc)
        click.echo(t("fakemodem.delivered", parts=len(pdus), sender=sender))


@fake_modem.command()
@_STATE_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--all", "include_incomplete", is_flag=True,
              help="Also concatenated messages with parts still missing.")
def sent(state_dir: Path, as_json: bool, include_incomplete: bool) -> None:
    """What was submitted through the modem (AT+CMGS), oldest first."""
    with _client(state_dir) as client:
        rows = client.sent_json(include_incomplete)
    for r in rows:
        if as_json:
            click.echo(json.dumps({"to": r["to"], "text": r["text"], "parts": r["parts"],
                                   "at": r["at"]}, ensure_ascii=False))
        else:
            mark = "" if r["complete"] else " (incomplete)"
            click.echo(f"{r['at']}  {r['to']}  [{r['parts']}]{mark}  {r['text']}")
    if not rows and not as_json:
        click.echo(t("fakemodem.nothing_sent"))


@fake_modem.command()
@_STATE_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def storage(state_dir: Path, as_json: bool) -> None:
    """Messages in the modem's storages (SM, ME)."""
    with _client(state_dir) as client:
        rows = client.stored()
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
        else:
            who = r.get("from", "?")
            text = r.get("text", r["pdu"])
            part = f" ({r['part']})" if "part" in r else ""
            click.echo(f"{r['storage']} {r['index']:>3}  {r['stat']:<10}  {who}{part}  {text}")
    if not rows and not as_json:
        click.echo(t("fakemodem.storage_empty"))


def _coerce(value: str) -> FaultParam:
    if value.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _is_int(v: object) -> bool:
    return isinstance(v, int) and v >= 0


def _is_seconds(v: object) -> bool:
    return isinstance(v, int | float) and v >= 0


# name -> (what is expected, check of the coerced value); docs/fake-modem.md "Faults".
_FAULT_PARAMS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "count": ("a whole number", _is_int),
    "match": ("a command prefix such as +CMGS", lambda v: isinstance(v, str) and v != ""),
    "code": ("an error code number such as 331", _is_int),
    "delay": ("seconds", _is_seconds),
    "storage": ("SM or ME", lambda v: isinstance(v, str) and v.upper() in ("SM", "ME")),
    "value": ("a +CSQ value such as 20 or 99", _is_int),
    "reappear_after": ("seconds or none", lambda v: v is None or _is_seconds(v)),
}


@fake_modem.command()
@_STATE_DIR
@click.argument("kind")
@click.argument("params", nargs=-1)
def fault(state_dir: Path, kind: str, params: tuple[str, ...]) -> None:
    """Arm a fault KIND with NAME=VALUE parameters (count, match, code, delay, storage,
    value, reappear_after), e.g. `fault cms-error code=331 match=+CMGS count=2`."""
    kinds = (*FAULT_KINDS, "vanish")
    if kind.replace("_", "-").lower() not in kinds:
        click.echo(t("fakemodem.bad_fault", kinds=", ".join(kinds), value=kind), err=True)
        sys.exit(2)
    values: dict[str, FaultParam] = {}
    for p in params:
        name, sep, value = p.partition("=")
        if not sep or not name:
            click.echo(t("fakemodem.bad_param", param=p), err=True)
            sys.exit(2)
        key = name.replace("-", "_")
        values[key] = _coerce(value)
        expected = _FAULT_PARAMS.get(key)
        if expected is None:
            click.echo(t("fakemodem.bad_fault_param", name=name, value=p,
                         expected=", ".join(f"{k}=" for k in _FAULT_PARAMS)), err=True)
            sys.exit(2)
        if not expected[1](values[key]):
            click.echo(t("fakemodem.bad_fault_param", name=name, value=value,
                         expected=expected[0]), err=True)
            sys.exit(2)
    with _client(state_dir) as client:
        client.fault(kind, **values)
    click.echo(t("fakemodem.fault_armed", kind=kind))


@fake_modem.command()
@_STATE_DIR
def status(state_dir: Path) -> None:
    """The modem's state: port, settings, storage, faults (JSON)."""
    with _client(state_dir) as client:
        click.echo(json.dumps(client.status(), indent=2, ensure_ascii=False))


@fake_modem.command()
@_STATE_DIR
@click.option("--refused", is_flag=True, help="Only lines that got no OK.")
def history(state_dir: Path, refused: bool) -> None:
    """The last command lines the modem got and their final result codes."""
    with _client(state_dir) as client:
        rows = client.history()
    for line, final in rows:
        if refused and final in ("OK", "> "):
            continue
        click.echo(f"{line}  ->  {final or '(no answer)'}")


@fake_modem.command("reset-faults")
@_STATE_DIR
def reset_faults(state_dir: Path) -> None:
    """Clear every fault."""
    with _client(state_dir) as client:
        client.reset_faults()
    click.echo(t("fakemodem.faults_reset"))
