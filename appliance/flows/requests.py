"""Making the changes customers ask for by SMS at the bank (DESIGN §4, §6): alerts off/on,
the reply language, a card block.

The inbound decision commits the request (`bank_request`, state `pending`) with the
message's handled mark (I2). Here, for each due request: mark it `submitted` (committed),
call the bank, then commit in ONE transaction the final state, the local agreement's
change (alerts, language) and the customer's reply (unique key `request:<id>`). A crash
anywhere in between leaves it `submitted`; the next pass calls the bank again: the alerts
and language PUTs set a value (the same call twice is the same change) and the card block
carries the idempotency key derived from the inbound message, so a card is blocked once and
the customer answered once. Nothing here ever unblocks a card.

While the bank is unreachable a request is retried with backoff (`retry_after` doubling
up to `retry_max`) for `retry_for` seconds after it was created; then it is `failed` and
the customer is told. A refusal (4xx) fails at once; `unknown_card` gets the reply that
reveals nothing about whose card it is.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from appliance.core.requests import (
    AlertsChange,
    BankRequest,
    CardBlock,
    LanguageChange,
    RequestOutcome,
    request_outcome_text,
)
from appliance.core.rules import Rules, language_from
from appliance.flows import tally
from appliance.flows.crash import crash_point
from appliance.flows.ports import BankDown, BankRefused, RequestBank
from appliance.store import requests as queries
from appliance.store.db import write_transaction
from appliance.store.models import BankRequest as RequestRow
from appliance.store.requests import JsonParams

log = logging.getLogger(__name__)

DUE_STATES: tuple[str, ...] = ("pending", "submitted")
CARD_UNKNOWN_CODE = "unknown_card"


def reply_key(request_id: int) -> str:
    """The outbox dedupe key of a request's outcome SMS: one per request."""
    return f"request:{request_id}"


def stored_kind(request: BankRequest) -> tuple[str, JsonParams]:
    """The `bank_request` row's kind and params for a core request."""
    if isinstance(request, AlertsChange):
        return "alerts", {"enabled": request.enabled}
    if isinstance(request, LanguageChange):
        return "language", {"language": str(request.language)}
    return "card_block", {"last4": request.last4, "customer_id": request.customer_id}


def core_request(row: RequestRow) -> BankRequest:
    """The core's request value back from a stored row."""
    params = queries.request_params(row)
    agreement_id = str(row.agreement_id)
    if row.kind == "alerts":
        return AlertsChange(agreement_id, bool(params["enabled"]))
    if row.kind == "language":
        return LanguageChange(agreement_id, language_from(params["language"]))
    return CardBlock(agreement_id, str(params["customer_id"]), str(params["last4"]))


def perform_pending(
    bank: RequestBank, rules: Rules, now: datetime, *, retry_for: float, retry_after: float,
    retry_max: float, limit: int = 50,
) -> int:
    """Make every due request at the bank; return how many reached a final state.

    The first `BankDown` ends the pass (the others wait for the next one, with no round
    of retries each).
    """
    finished = 0
    for request_id in queries.due_request_ids(DUE_STATES, now, limit):
        with write_transaction():
            row = queries.claim_request(request_id, DUE_STATES, now)
        if row is None:
            continue  # finished meanwhile
        crash_point("request_before_bank")
        request = core_request(row)
        try:
            _call(bank, row, request)
        except BankRefused as exc:
            unknown = isinstance(request, CardBlock) and exc.code == CARD_UNKNOWN_CODE
            level = logging.INFO if unknown else logging.ERROR
            log.log(level, "bank request %d (%s) refused: %s %s", row.id, row.kind,
                    exc.status, exc.code)
            finished += _finish(row, request, RequestOutcome.UNKNOWN_CARD if unknown
                                else RequestOutcome.FAILED, rules, now)
            continue
        except BankDown as exc:
            if (now - row.created_at).total_seconds() >= retry_for:
                log.warning("bank request %d (%s): bank unavailable for too long, giving "
                            "up: %s", row.id, row.kind, exc)
                finished += _finish(row, request, RequestOutcome.FAILED, rules, now)
            else:
                attempt = max(1, int(row.attempts))
                delay = min(retry_after * 2 ** (attempt - 1), retry_max)
                with write_transaction():
                    queries.postpone_request(int(row.id), now + timedelta(seconds=delay), now)
                log.warning("bank request %d (%s): bank unavailable, retrying in %.0fs: %s",
                            row.id, row.kind, delay, exc)
            break
        crash_point("request_after_bank")
        finished += _finish(row, request, RequestOutcome.DONE, rules, now)
    return finished


def _call(bank: RequestBank, row: RequestRow, request: BankRequest) -> None:
    if isinstance(request, AlertsChange):
        bank.set_alerts(request.agreement_id, request.enabled)
    elif isinstance(request, LanguageChange):
        bank.set_language(request.agreement_id, str(request.language))
    else:
        bank.block_card(str(row.idempotency_key), request.agreement_id, request.last4)


def _finish(row: RequestRow, request: BankRequest, outcome: RequestOutcome, rules: Rules,
            now: datetime) -> int:
    """Commit the final state, the local agreement's change and the reply together."""
    state = "failed" if outcome is RequestOutcome.FAILED else "done"
    with write_transaction():
        if not queries.finish_request(int(row.id), state, str(outcome), now):
            return 0
        if outcome is RequestOutcome.DONE:
            if isinstance(request, AlertsChange):
                queries.apply_alerts(request.agreement_id, request.enabled, now)
            elif isinstance(request, LanguageChange):
                queries.apply_language(request.agreement_id, str(request.language))
        agreement = queries.agreement_row(str(row.agreement_id))
        text = request_outcome_text(request, outcome, str(agreement.language), rules)
        queries.queue_request_reply(str(agreement.phone), text, row.inbound_id,
                                    reply_key(int(row.id)), now)
    log.info("bank request %d (%s): %s", row.id, row.kind, outcome)
    if isinstance(request, CardBlock):
        tally.card_block(str(outcome))
    return 1
