"""Acceptance: the fake bank as an integrator curls it (docs/bank-api.md).

Requests no client of the contract sends still get the documented error body.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from appliance.bank.fake import FakeBankServer


def test_unknown_path_and_wrong_method_have_their_own_codes(tmp_path: Path) -> None:
    with FakeBankServer(tmp_path / "bank") as bank:
        auth = {"Authorization": f"Bearer {bank.token}"}
        with httpx.Client(base_url=bank.url, headers=auth, timeout=10) as http:
            missing = http.get("/v1/nope")
            assert missing.status_code == 404
            assert missing.json()["error"] == "not_found"
            assert missing.headers["Date"]
            wrong = http.post("/v1/changes")
            assert wrong.status_code == 405
            body = wrong.json()
            assert body["error"] == "method_not_allowed"
            assert set(body) == {"error", "message"}
            assert wrong.headers["Date"]
