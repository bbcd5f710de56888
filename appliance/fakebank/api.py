"""The endpoints of the bank contract (docs/bank-api.yaml): thin checks over the ledger."""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from appliance.fakebank.ledger import FakeBankDB
from appliance.fakebank.values import LANGUAGES, FakeBankError, is_e164
from appliance.fakebank.wire import answer, body_of, checked_key

MAX_PAGE = 5000
DEFAULT_PAGE = 500

CONTRACT_RULES = (
    Rule("/v1/changes", endpoint="changes", methods=["GET"]),
    Rule("/v1/topups", endpoint="topups", methods=["POST"]),
    Rule("/v1/topups/<key>/resolve", endpoint="resolve", methods=["POST"]),
    Rule("/v1/agreements/<agreement_id>/phone", endpoint="phone", methods=["PUT"]),
    Rule("/v1/agreements/<agreement_id>/alerts", endpoint="alerts", methods=["PUT"]),
    Rule("/v1/agreements/<agreement_id>/language", endpoint="language", methods=["PUT"]),
    Rule("/v1/cards/block", endpoint="block", methods=["POST"]),
)


class ContractEndpoints:
    """`_on_<endpoint>` handlers of the contract's operations."""

    db: FakeBankDB

    def _on_changes(self, request: Request) -> Response:
        after = request.args.get("after")
        raw_limit = request.args.get("limit", str(DEFAULT_PAGE))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise FakeBankError(400, "bad_request", f"limit: an integer from 1 to {MAX_PAGE}")
        if after is not None and after == "":
            raise FakeBankError(400, "bad_cursor", "after: empty cursor")
        return answer(200, self.db.changes(after, int(raw_limit)))

    def _on_topups(self, request: Request) -> Response:
        key = checked_key(request.headers.get("Idempotency-Key", ""))
        return answer(200, self.db.topup(key, body_of(request)).body)

    def _on_resolve(self, request: Request, key: str) -> Response:
        return answer(200, self.db.resolve(checked_key(key)))

    def _on_phone(self, request: Request, agreement_id: str) -> Response:
        body = body_of(request)
        phone = body.get("phone")
        if set(body) != {"phone"} or not is_e164(phone):
            raise FakeBankError(400, "bad_request", "body: {\"phone\": \"+E164\"}")
        return answer(200, self.db.rebind_phone(agreement_id, str(phone)))

    def _on_alerts(self, request: Request, agreement_id: str) -> Response:
        body = body_of(request)
        enabled = body.get("enabled")
        if set(body) != {"enabled"} or not isinstance(enabled, bool):
            raise FakeBankError(400, "bad_request", "body: {\"enabled\": true|false}")
        return answer(200, self.db.set_alerts(agreement_id, enabled))

    def _on_language(self, request: Request, agreement_id: str) -> Response:
        body = body_of(request)
        language = body.get("language")
        if set(body) != {"language"} or language not in LANGUAGES:
            raise FakeBankError(400, "bad_request",
                                f"body: {{\"language\": {'|'.join(LANGUAGES)}}}")
        return answer(200, self.db.set_language(agreement_id, str(language)))

    def _on_block(self, request: Request) -> Response:
        key = checked_key(request.headers.get("Idempotency-Key", ""))
        status, body = self.db.block_card(key, body_of(request))
        return answer(status, body)
