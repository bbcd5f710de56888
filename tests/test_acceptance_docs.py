"""Acceptance: what README.md tells a tester to type works against the demo's data."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _seed() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "config" / "demo-bank.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _demo_phones_and_accounts() -> tuple[dict[str, str], set[str]]:
    phones: dict[str, str] = {}
    accounts: set[str] = set()
    for customer in _seed()["customers"]:  # type: ignore[attr-defined]
        ids = [a["id"] for a in customer.get("accounts", [])]
        accounts.update(ids)
        for agreement in customer.get("agreements", []):
            if agreement.get("active", True):
                phones[agreement["phone"]] = customer["id"]
    return phones, accounts


def _readme_shell_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def test_readme_first_block_is_two_commands() -> None:
    first = _readme_shell_blocks()[0]
    assert [line.split()[0] for line in first.splitlines()] == ["./scripts/demo", "./scripts/test"]


def test_readme_texts_from_a_demo_phone_and_books_on_its_account() -> None:
    phones, accounts = _demo_phones_and_accounts()
    trying = next(b for b in _readme_shell_blocks() if "fake-modem deliver" in b)
    senders = re.findall(r"--from (\S+)", trying)
    assert senders, "the README shows no deliver"
    for sender in senders:
        assert sender in phones, f"{sender} has no active agreement in demo-bank.yaml"
    booked = re.findall(r"--account (\S+)", trying)
    assert booked, "the README shows no movement"
    for account in booked:
        assert account in accounts, f"{account} is not an account in demo-bank.yaml"
    # The movement is on the texting customer's account and reaches the alert limit.
    customer = phones[senders[0]]
    seed_customer = next(c for c in _seed()["customers"]  # type: ignore[attr-defined]
                         if c["id"] == customer)
    assert booked[0] in {a["id"] for a in seed_customer["accounts"]}
    amount = abs(Decimal(re.findall(r"--amount (\S+)", trying)[0]))
    limit = Decimal(str(seed_customer["agreements"][0]["alert_limit"]))
    assert amount >= limit
