"""The fake modem's control requests (`fakemodem.sock`, one JSON line each) dispatched to
the server's methods; `control.ControlClient` is the other side."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.fakemodem.server import FakeModemServer


def handle_request(server: FakeModemServer, request: dict[str, object]) -> object:
    """One control request (a decoded JSON line) -> its JSON-able result."""
    op = request.get("op")
    raw = request.get("args") or {}
    args = raw if isinstance(raw, dict) else {}
    if op == "ping":
        return {"pty": server.pty_path, "link": str(server.link), "name": server.name}
    if op == "deliver":
        return {"pdus": server.deliver(
            str(args["sender"]), str(args["text"]), ucs2=bool(args.get("ucs2", False)),
            storage=args.get("storage"), parts_order=args.get("parts_order"),
            drop_part=args.get("drop_part"), ref_bits=int(args.get("ref_bits", 8)),
            smsc=args.get("smsc"))}
    if op == "deliver_pdu":
        server.deliver_pdu(str(args["pdu"]), storage=args.get("storage"),
                         stat=int(args.get("stat", 0)))
        return {}
    if op == "sent":
        return [m.to_json() for m in server.sent(bool(args.get("include_incomplete")))]
    if op == "stored":
        return [m.to_json() for m in server.stored()]
    if op == "fault":
        params = dict(args.get("params") or {})
        server.fault(str(args["kind"]), **params)
        return {}
    if op == "status":
        return server.status()
    if op == "history":
        return [list(x) for x in server.history()]
    if op == "reset_faults":
        server.reset_faults()
        return {}
    raise ValueError(f"unknown operation {op!r}")
