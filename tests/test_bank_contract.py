"""The fake bank's real answers (and the client's real requests) against docs/bank-api.yaml."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.routing import Map

from appliance.bank.client import BankClient, BankRejected
from appliance.fakebank.server import FakeBankServer

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "docs" / "bank-api.yaml"
DOC_PATH = ROOT / "docs" / "bank-api.md"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
_URI = "urn:bank-api"
_REGISTRY: Registry = Registry().with_resource(
    _URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def validate(body: object, schema_ref: str) -> None:
    """Validate `body` against `#/components/...` of the OpenAPI file."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{_URI}{schema_ref}"}, registry=_REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(body)


def pointer(*parts: str) -> str:
    """A `#/...` JSON pointer into the spec (escaped, percent-encoded for the URI)."""
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return "#/" + "/".join(quote(e, safe="~") for e in escaped)


def response_schema(path: str, method: str, status: int) -> str:
    """The schema reference the spec gives for one response (resolving response refs)."""
    responses = SPEC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    entry = responses[str(status)]
    if "$ref" in entry:
        name = entry["$ref"].rsplit("/", 1)[-1]
        entry = SPEC["components"]["responses"][name]
    schema = entry["content"]["application/json"]["schema"]
    if "$ref" in schema:
        return str(schema["$ref"])
    raise AssertionError(f"inline schema for {method} {path} {status}; use a component")


@pytest.fixture
def http(bank: FakeBankServer) -> Iterator[httpx.Client]:
    token = bank.token_file.read_text().strip()
    with httpx.Client(base_url=bank.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=5.0) as client:
        yield client


def check(response: httpx.Response, path: str, method: str) -> Any:
    body = response.json()
    validate(body, response_schema(path, method, response.status_code))
    return body


def test_spec_is_valid_openapi_31_shape() -> None:
    assert SPEC["openapi"].startswith("3.1")
    assert set(SPEC["paths"]) == {"/v1/changes", "/v1/topups", "/v1/topups/{key}/resolve",
                                  "/v1/agreements/{id}/phone", "/v1/agreements/{id}/alerts",
                                  "/v1/agreements/{id}/language", "/v1/cards/block"}
    # Every component schema is itself a valid JSON Schema 2020-12.
    for schema in SPEC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_fake_serves_every_documented_operation(bank: FakeBankServer) -> None:
    urls: Map = bank.app._urls
    adapter = urls.bind("127.0.0.1")
    for path, operations in SPEC["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "X1234567", path)
        for method in operations:
            endpoint, _ = adapter.match(concrete, method=method.upper())
            assert endpoint, (method, path)


def test_the_prose_document_names_every_operation() -> None:
    doc = DOC_PATH.read_text(encoding="utf-8")
    for path, operations in SPEC["paths"].items():
        for method in operations:
            assert f"{method.upper()} {path}" in doc.replace("<id>", "{id}"), (method, path)


def test_changes_pages_match_the_schema(http: httpx.Client, bank: FakeBankServer) -> None:
    bank.book_movement("A1001", Decimal("-600.00"), "transfer_out")
    cursor: str | None = None
    seen = 0
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor is not None:
            params["after"] = cursor
        body = check(http.get("/v1/changes", params=params), "/v1/changes", "get")
        seen += len(body["movements"])
        cursor = body["cursor"]
        if not body["more"]:
            break
    assert seen == 21


def test_money_is_never_a_json_number(http: httpx.Client) -> None:
    raw = http.get("/v1/changes", params={"limit": 5000}).text

    def refuse(text: str) -> None:
        raise AssertionError(f"a JSON float in the answer: {text}")

    json.loads(raw, parse_float=refuse)


def test_topup_answers_match_the_schema(http: httpx.Client) -> None:
    path = "/v1/topups"
    done = check(http.post(path, headers={"Idempotency-Key": "contract-0001"}, json={
        "agreement_id": "G1001", "operator": "vala", "amount": "5.00",
        "target": "+38344111222"}), path, "post")
    assert done["status"] == "done"
    assert "balance_after" in done
    rejected = check(http.post(path, headers={"Idempotency-Key": "contract-0002"}, json={
        "agreement_id": "G4001", "operator": "ipko_mobile", "amount": "40",
        "target": "+38343111222"}), path, "post")
    assert rejected == {"id": rejected["id"], "status": "rejected",
                        "reason": "insufficient_funds"}
    conflict = http.post(path, headers={"Idempotency-Key": "contract-0001"}, json={
        "agreement_id": "G1001", "operator": "vala", "amount": "10.00",
        "target": "+38344111222"})
    assert conflict.status_code == 422
    check(conflict, path, "post")
    for bad in (
        {"agreement_id": "G1001", "operator": "vala", "amount": 5.0, "target": "+38344111222"},
        {"agreement_id": "G1001", "operator": "vala", "amount": "5"},
        {"agreement_id": "G1001", "operator": "mts", "amount": "5", "target": "+38347111222"},
    ):
        response = http.post(path, headers={"Idempotency-Key": "contract-0003"}, json=bad)
        assert response.status_code == 400, bad
        check(response, path, "post")
    no_key = http.post(path, json={"agreement_id": "G1001", "operator": "vala", "amount": "5",
                                   "target": "+38344111222"})
    assert no_key.status_code == 400
    check(no_key, path, "post")


def test_resolve_answers_match_the_schema(http: httpx.Client) -> None:
    path = "/v1/topups/{key}/resolve"
    http.post("/v1/topups", headers={"Idempotency-Key": "contract-0200"}, json={
        "agreement_id": "G1001", "operator": "vala", "amount": "5", "target": "+38344111222"})
    known = check(http.post("/v1/topups/contract-0200/resolve"), path, "post")
    assert known["status"] == "done"
    fenced = check(http.post("/v1/topups/contract-0201/resolve"), path, "post")
    assert (fenced["status"], fenced["reason"]) == ("rejected", "not_received")
    late = check(http.post("/v1/topups", headers={"Idempotency-Key": "contract-0201"}, json={
        "agreement_id": "G1001", "operator": "vala", "amount": "5", "target": "+38344111222"}),
        "/v1/topups", "post")
    assert late == fenced
    bad = http.post("/v1/topups/short/resolve")
    assert bad.status_code == 400
    check(bad, path, "post")


def test_phone_rebind_answers_match_the_schema(http: httpx.Client) -> None:
    path = "/v1/agreements/{id}/phone"
    check(http.put("/v1/agreements/G2001/phone", json={"phone": "+38349000111"}), path, "put")
    missing = http.put("/v1/agreements/G404/phone", json={"phone": "+38349000112"})
    assert missing.status_code == 404
    check(missing, path, "put")
    taken = http.put("/v1/agreements/G2001/phone", json={"phone": "+38344123456"})
    assert taken.status_code == 409
    check(taken, path, "put")
    bad = http.put("/v1/agreements/G2001/phone", json={"phone": "044123456"})
    assert bad.status_code == 400
    check(bad, path, "put")


def test_error_answers_match_the_schema(http: httpx.Client, bank: FakeBankServer) -> None:
    unauthorized = http.get("/v1/changes", headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    check(unauthorized, "/v1/changes", "get")
    bad_limit = http.get("/v1/changes", params={"limit": 0})
    assert bad_limit.status_code == 400
    check(bad_limit, "/v1/changes", "get")
    for mode, status in (("error500", 500), ("down", 503)):
        bank.set_fault(mode, count=3)
        for path, method, call in (
            ("/v1/changes", "get", lambda: http.get("/v1/changes")),
            ("/v1/topups", "post", lambda: http.post(
                "/v1/topups", headers={"Idempotency-Key": "contract-0009"}, json={})),
            ("/v1/agreements/{id}/phone", "put", lambda: http.put(
                "/v1/agreements/G1001/phone", json={"phone": "+38344123456"})),
        ):
            response = call()
            assert response.status_code == status
            check(response, path, method)


def test_what_the_client_sends_matches_the_schema(bank: FakeBankServer) -> None:
    client = BankClient(bank.url, bank.token_file, retries=0)
    client.changes(None, 10)
    client.topup("contract-0100", "+38344111222", "vala", Decimal(5), agreement_id="G1001")
    client.topup("contract-0101", None, "ipko_fixed", Decimal(15), product="tv",
                 subscriber_id="SC-0042", agreement_id="G3001")
    client.rebind_phone("G2001", "+38349000111")
    with pytest.raises(BankRejected):
        client.rebind_phone("G2001", "+38344123456")
    sent = bank.app.seen
    topups = [(headers, body) for method, path, headers, body in sent if path == "/v1/topups"]
    assert len(topups) == 2
    request_schema = SPEC["paths"]["/v1/topups"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["$ref"]
    key_schema = SPEC["paths"]["/v1/topups"]["post"]["parameters"][0]["schema"]
    for headers, body in topups:
        validate(body, request_schema)
        jsonschema.validate(headers["Idempotency-Key"], key_schema)
        assert headers["Authorization"].startswith("Bearer ")
    phones = [body for method, path, _h, body in sent if method == "PUT"]
    assert len(phones) == 2
    for body in phones:
        validate(body, pointer("paths", "/v1/agreements/{id}/phone", "put", "requestBody",
                               "content", "application/json", "schema"))
    gets = [(path, headers) for method, path, headers, _b in sent if method == "GET"]
    assert gets
    assert all(path == "/v1/changes" for path, _ in gets)


def test_the_type_codes_are_one_list_in_the_contract_the_prose_and_the_fake() -> None:
    from appliance.fakebank.ledger import TYPE_CODES, load_seed

    documented = SPEC["components"]["schemas"]["MovementTypeCode"]["enum"]
    assert tuple(documented) == TYPE_CODES
    doc = DOC_PATH.read_text(encoding="utf-8")
    for code in documented:
        assert f"| `{code}` |" in doc, code
    data, _ = load_seed(None)
    seeded = {str(m["type"]) for c in data["customers"] for a in c.get("accounts") or []
              for m in a.get("movements") or []}
    assert seeded <= set(TYPE_CODES)
    assert len(seeded) >= 10  # the demo's history shows what a bank books


def test_a_movement_of_an_unlisted_type_still_matches_and_parses(
    http: httpx.Client, bank: FakeBankServer
) -> None:
    moved = bank.book_movement("A1001", Decimal("-1.00"), "crypto_swap")
    body = check(http.get("/v1/changes", params={"limit": 5000}), "/v1/changes", "get")
    assert {"id": moved, "type": "crypto_swap"}.items() <= next(
        m for m in body["movements"] if m["id"] == moved).items()
    client = BankClient(bank.url, bank.token_file, retries=0)
    types = {m.id: m.type for m in client.changes(None, 5000).movements}
    assert types[moved] == "crypto_swap"


def test_alerts_and_language_answers_match_the_schema(http: httpx.Client) -> None:
    for path, good, bad, field, value in (
        ("/v1/agreements/{id}/alerts", {"enabled": False}, {"enabled": "no"},
         "alerts_enabled", False),
        ("/v1/agreements/{id}/language", {"language": "sr"}, {"language": "de"},
         "language", "sr"),
    ):
        concrete = path.replace("{id}", "G1001")
        done = check(http.put(concrete, json=good), path, "put")
        assert (done["id"], done[field]) == ("G1001", value)
        for status, response in (
            (404, http.put(path.replace("{id}", "G404"), json=good)),
            (409, http.put(path.replace("{id}", "G6002"), json=good)),
            (400, http.put(concrete, json=bad)),
            (400, http.put(concrete, json={**good, "extra": 1})),
        ):
            assert response.status_code == status, (path, status)
            check(response, path, "put")


def test_card_block_answers_match_the_schema(http: httpx.Client) -> None:
    path = "/v1/cards/block"

    def block(key: str | None, body: dict[str, Any]) -> httpx.Response:
        headers = {} if key is None else {"Idempotency-Key": key}
        return http.post(path, headers=headers, json=body)

    done = check(block("contract-0300", {"agreement_id": "G1001", "last4": "4821"}), path,
                 "post")
    assert done == {"card_id": "K1001", "status": "blocked"}
    assert check(block("contract-0300", {"agreement_id": "G1001", "last4": "4821"}), path,
                 "post") == done
    already = check(block("contract-0301", {"agreement_id": "G3001", "last4": "9117"}), path,
                    "post")
    assert already == {"card_id": "K3002", "status": "blocked"}
    others = block("contract-0302", {"agreement_id": "G1001", "last4": "5502"})
    nobody = block("contract-0303", {"agreement_id": "G1001", "last4": "0000"})
    assert others.status_code == nobody.status_code == 404
    assert check(others, path, "post") == check(nobody, path, "post")
    reused = block("contract-0300", {"agreement_id": "G1001", "last4": "7315"})
    assert reused.status_code == 422
    check(reused, path, "post")
    for key, body in (("contract-0304", {"agreement_id": "G1001", "last4": 4821}),
                      ("contract-0305", {"agreement_id": "G1001"}),
                      ("short", {"agreement_id": "G1001", "last4": "4821"}),
                      (None, {"agreement_id": "G1001", "last4": "4821"})):
        response = block(key, body)
        assert response.status_code == 400, (key, body)
        check(response, path, "post")


def test_choices_blocks_and_sim_swaps_come_back_in_pages_that_match(
    http: httpx.Client, bank: FakeBankServer
) -> None:
    first = check(http.get("/v1/changes", params={"limit": 5000}), "/v1/changes", "get")
    assert {c["id"] for c in first["cards"]} >= {"K1001", "K2001", "K3002"}
    http.put("/v1/agreements/G1001/alerts", json={"enabled": False})
    http.put("/v1/agreements/G2001/language", json={"language": "sr"})
    http.post("/v1/cards/block", headers={"Idempotency-Key": "contract-0400"},
              json={"agreement_id": "G2001", "last4": "5502"})
    bank.sim_swap("+38345345678")
    later = check(http.get("/v1/changes", params={"after": first["cursor"]}), "/v1/changes",
                  "get")
    agreements = {a["id"]: a for a in later["agreements"]}
    assert agreements["G1001"]["alerts_enabled"] is False
    assert agreements["G2001"]["language"] == "sr"
    assert agreements["G3001"]["sim_changed_at"] is not None
    assert later["cards"] == [{"id": "K2001", "customer_id": "C1002", "last4": "5502",
                               "status": "blocked"}]


def test_what_the_client_sends_for_choices_and_blocks_matches(bank: FakeBankServer) -> None:
    client = BankClient(bank.url, bank.token_file, retries=0)
    client.set_alerts("G1001", False)
    client.set_language("G1001", "en")
    client.block_card("contract-0500", "G1001", "7315")
    sent = {path: (headers, body) for _m, path, headers, body in bank.app.seen}
    for path, template in (("/v1/agreements/G1001/alerts", "/v1/agreements/{id}/alerts"),
                           ("/v1/agreements/G1001/language", "/v1/agreements/{id}/language")):
        validate(sent[path][1], pointer("paths", template, "put", "requestBody", "content",
                                        "application/json", "schema"))
    headers, body = sent["/v1/cards/block"]
    validate(body, pointer("paths", "/v1/cards/block", "post", "requestBody", "content",
                           "application/json", "schema"))
    key_schema = SPEC["paths"]["/v1/cards/block"]["post"]["parameters"][0]["schema"]
    jsonschema.validate(headers["Idempotency-Key"], key_schema)


def test_new_operations_fail_with_documented_errors(http: httpx.Client,
                                                    bank: FakeBankServer) -> None:
    for mode, status in (("error500", 500), ("down", 503)):
        bank.set_fault(mode)
        for path, method, call in (
            ("/v1/agreements/{id}/alerts", "put", lambda: http.put(
                "/v1/agreements/G1001/alerts", json={"enabled": True})),
            ("/v1/agreements/{id}/language", "put", lambda: http.put(
                "/v1/agreements/G1001/language", json={"language": "sq"})),
            ("/v1/cards/block", "post", lambda: http.post(
                "/v1/cards/block", headers={"Idempotency-Key": "contract-0600"},
                json={"agreement_id": "G1001", "last4": "4821"})),
        ):
            response = call()
            assert response.status_code == status
            check(response, path, method)
        bank.set_fault("none")
    unauthorized = http.post("/v1/cards/block", headers={"Authorization": "Bearer nope",
                                                         "Idempotency-Key": "contract-0601"},
                             json={"agreement_id": "G1001", "last4": "4821"})
    assert unauthorized.status_code == 401
    check(unauthorized, "/v1/cards/block", "post")
