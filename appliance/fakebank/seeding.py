"""Reading a seed document (the shape of config/demo-bank.yaml) without touching a ledger."""

from __future__ import annotations

from pathlib import Path

import yaml

from appliance.fakebank.values import JsonObject, objects


def load_seed(path: Path | None) -> tuple[JsonObject, str]:
    """The seed document at `path` (`None`: the embedded demo seed) and where it came from."""
    if path is None:
        from appliance.fakebank.seed import DEMO_SEED_YAML  # noqa: PLC0415

        text, source = DEMO_SEED_YAML, "embedded demo seed"
    else:
        text, source = path.read_text(encoding="utf-8"), str(path)
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the seed must be a mapping")
    return {str(k): v for k, v in data.items()}, source


def seed_account_ids(path: Path | None) -> set[str]:
    """The ids of the accounts a new ledger seeded from `path` would have."""
    data, _source = load_seed(path)
    return {str(acc["id"]) for cust in objects(data.get("customers"))
            for acc in objects(cust.get("accounts"))}


def seed_phones(path: Path | None) -> set[str]:
    """The agreement phones a new ledger seeded from `path` would have."""
    data, _source = load_seed(path)
    return {str(agr["phone"]) for cust in objects(data.get("customers"))
            for agr in objects(cust.get("agreements"))}
