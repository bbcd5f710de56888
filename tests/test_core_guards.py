"""core.guards: the pure rules of confirmation codes (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from appliance.core import gsm7, guards
from appliance.core.rules import Operator, Product, Rules
from appliance.core.views import OrderIntent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = Rules()


def _pending(tries: int = 0) -> guards.PendingCode:
    return guards.PendingCode(guards.expiry(NOW, RULES), tries)


def test_only_amounts_from_confirm_from_need_a_code() -> None:
    assert RULES.confirm_from == 25
    assert RULES.confirm_seconds == 300
    assert not guards.needs_code(Decimal("24.99"), RULES)
    assert guards.needs_code(Decimal(25), RULES)
    assert not guards.needs_code(Decimal(50), Rules(confirm_from=Decimal(0)))


def test_a_code_is_exactly_four_digits() -> None:
    assert guards.code_in(" 1234 ") == "1234"
    for text in ("123", "12345", "1234 5", "a1234", "12 34", ""):
        assert guards.code_in(text) is None


def test_verdicts() -> None:
    assert guards.judge_code(True, _pending(), NOW) is guards.CodeVerdict.CONFIRMED
    assert guards.judge_code(False, _pending(), NOW) is guards.CodeVerdict.WRONG
    assert guards.judge_code(False, _pending(tries=1), NOW) is guards.CodeVerdict.WRONG
    assert guards.judge_code(False, _pending(tries=2), NOW) is guards.CodeVerdict.CANCELLED
    late = NOW + timedelta(seconds=300)
    assert guards.judge_code(True, _pending(), late) is guards.CodeVerdict.EXPIRED


def test_the_digest_hides_the_code_and_depends_on_the_salt() -> None:
    from appliance.flows.confirm import code_digest

    digest = code_digest("4321", "a")
    assert "4321" not in digest
    assert digest != code_digest("4321", "b")


def test_the_ask_names_amount_target_and_code_in_one_segment() -> None:
    phone = OrderIntent("+38344111222", Operator.VALA, None, None, Decimal(40))
    text = guards.ask_text("9876", phone, "sq", RULES)
    assert "40,00 EUR" in text
    assert "044" in text
    assert "9876" in text
    assert "5 minut" in text
    product = OrderIntent("123456789012", Operator.IPKO_FIXED, Product.TV, "123456789012",
                          Decimal(30))
    for lang in ("sq", "en", "sr"):
        text = guards.ask_text("9876", product, lang, RULES)
        assert "TV 123456789012" in text
        assert gsm7.segment_count(text) == 1
    for verdict in (guards.CodeVerdict.WRONG, guards.CodeVerdict.CANCELLED,
                    guards.CodeVerdict.EXPIRED):
        assert gsm7.segment_count(guards.verdict_text(verdict, "en", RULES)) == 1


def test_smsc_trust() -> None:
    allow = frozenset({"+38344000100"})
    assert guards.smsc_trusted("+44770000001", frozenset())  # no list: off
    assert guards.smsc_trusted("+38344000100", allow)
    assert guards.smsc_trusted("38344000100", allow)  # national/international TOA alike
    assert not guards.smsc_trusted("+44770000001", allow)
    assert not guards.smsc_trusted(None, allow)


def test_sim_hold_lasts_sim_hold_hours() -> None:
    changed = NOW - timedelta(hours=71)
    hold = guards.money_hold(smsc_ok=True, sim_changed_at=changed, now=NOW, rules=RULES)
    assert hold is guards.Hold.SIM_SWAP
    assert guards.money_hold(smsc_ok=True, sim_changed_at=NOW - timedelta(hours=72),
                             now=NOW, rules=RULES) is None
    assert guards.money_hold(smsc_ok=True, sim_changed_at=None, now=NOW, rules=RULES) is None
    assert guards.money_hold(smsc_ok=True, sim_changed_at=changed, now=NOW,
                             rules=Rules(sim_hold_hours=0)) is None
    assert guards.money_hold(smsc_ok=False, sim_changed_at=None, now=NOW,
                             rules=RULES) is guards.Hold.SMSC
    text = guards.hold_text(guards.Hold.SIM_SWAP, "en", RULES)
    assert "72 hours" in text
    assert "branch" in text


def test_rate_limit_windows_and_verdicts() -> None:
    limit = guards.RateLimit(per_minute=10, per_hour=60)
    (minute, m_start), (hour, h_start) = guards.rate_windows(NOW + timedelta(minutes=7,
                                                                               seconds=42))
    assert (minute, m_start) == ("minute", NOW + timedelta(minutes=7))
    assert (hour, h_start) == ("hour", NOW)
    assert guards.rate_exceeded(10, 10, limit) is None
    assert guards.rate_exceeded(11, 11, limit) == "minute"
    assert guards.rate_exceeded(5, 61, limit) == "hour"
    assert guards.rate_exceeded(61, 61, limit) == "hour"  # over both: the hour's notice
    assert guards.rate_exceeded(500, 500, guards.RateLimit(0, 0)) is None
