"""JSON in and out of the fake bank's HTTP side: request bodies, answers, error bodies."""

from __future__ import annotations

import json
from decimal import Decimal

from werkzeug.wrappers import Request, Response

from appliance.fakebank.values import FakeBankError, JsonObject


def checked_key(key: str) -> str:
    """An Idempotency-Key as the contract allows it (8-128 of [A-Za-z0-9._:-]), else 400."""
    if not 8 <= len(key) <= 128 or not all(
        ch.isascii() and (ch.isalnum() or ch in "._:-") for ch in key
    ):
        raise FakeBankError(
            400, "bad_idempotency_key", "Idempotency-Key: 8-128 of [A-Za-z0-9._:-]"
        )
    return key


def body_of(request: Request) -> JsonObject:
    """The request's JSON object body; anything else is a 400."""
    try:
        # parse_float: a JSON float in money would be a contract breach; keep it exact
        # so that parse_money can refuse it as "not a string".
        data = json.loads(request.get_data(as_text=True) or "null", parse_float=Decimal)
    except ValueError as exc:
        raise FakeBankError(400, "bad_request", "body: not JSON") from exc
    if not isinstance(data, dict):
        raise FakeBankError(400, "bad_request", "body: a JSON object")
    return {str(k): v for k, v in data.items()}


def answer(status: int, body: object) -> Response:
    """A JSON answer."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error(status: int, code: str, message: str) -> Response:
    """The contract's error body `{error, message}`."""
    return answer(status, {"error": code, "message": message})
