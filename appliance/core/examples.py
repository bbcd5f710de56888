"""Examples that replies give (`p.sh. 044123456 5`), derived from the amount rules so that an
example is always one the same rules accept (issue 10: `5,50` was never a valid top-up).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from appliance.core import texts
from appliance.core.money import format_amount
from appliance.core.rules import AmountRule, Operator, Product, Rules

__all__ = ["EXAMPLE_NUMBERS", "EXAMPLE_SUBSCRIBER", "example", "example_amount", "short_amount"]

# A number of each served operator's plan, as customers write it.
EXAMPLE_NUMBERS: dict[Operator, str] = {
    Operator.VALA: "044123456",
    Operator.IPKO_MOBILE: "049123456",
    Operator.IPKO_FIXED: "038123456",
}
EXAMPLE_SUBSCRIBER = "12345678"
_PREFER_PHONE = Decimal(5)
_PREFER_PRODUCT = Decimal(10)


def short_amount(amount: Decimal) -> str:
    """`5` for whole euros, `5,50` otherwise (as customers type amounts)."""
    return str(int(amount)) if amount == amount.to_integral_value() else format_amount(amount)


def example_amount(rule: AmountRule, prefer: Decimal = _PREFER_PHONE) -> Decimal:
    """An amount `rule` accepts, as close above `prefer` as the rule allows (`prefer` itself
    when allowed); the smallest allowed one when nothing above it is."""
    if rule.allowed:
        above = sorted(a for a in rule.allowed if a >= prefer)
        return above[0] if above else min(rule.allowed)
    if rule.accepts(prefer):
        return prefer
    if prefer > rule.minimum:
        steps = ((prefer - rule.minimum) / rule.step).to_integral_value(ROUND_CEILING)
        candidate = rule.minimum + steps * rule.step
        if candidate <= rule.maximum:
            return candidate
    return rule.minimum


def _operator_for_example(rules: Rules, operator: Operator | None) -> Operator | None:
    if operator is not None and operator in EXAMPLE_NUMBERS and rules.amount_rule(operator):
        return operator
    return next((o for o in EXAMPLE_NUMBERS if rules.amount_rule(o) is not None), None)


def example(
    rules: Rules, operator: Operator | None = None, product: Product | None = None
) -> tuple[str, str]:
    """(a whole example command, its amount alone) for `product`, else for a number of
    `operator` (Vala's when none or not served): `("044123456 5", "5")`,
    `("TV 12345678 10", "10")`. Both are accepted by `rules` as they stand."""
    if product is not None:
        rule = rules.product_rule(product)
        amount = short_amount(example_amount(rule, _PREFER_PRODUCT)) if rule else "10"
        return f"{texts.product_name(product)} {EXAMPLE_SUBSCRIBER} {amount}", amount
    chosen = _operator_for_example(rules, operator)
    rule = rules.amount_rule(chosen) if chosen is not None else None
    if chosen is None or rule is None:  # no phone top-ups served at all: the plain default
        return f"{EXAMPLE_NUMBERS[Operator.VALA]} 5", "5"
    amount = short_amount(example_amount(rule))
    return f"{EXAMPLE_NUMBERS[chosen]} {amount}", amount
