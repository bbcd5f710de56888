"""The `[rules]` table: the business rules of `core.rules.Rules`, whose defaults it keeps.

The defaults live in the core (DESIGN §4); this schema only says what a file may change,
and `to_rules()` lays the file's changes over them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import Field, model_validator

from appliance.config.section import Section
from appliance.config.values import (
    Amount,
    Amounts,
    Count,
    Flag,
    PositiveInt,
    TimeZone,
    amount,
    expecting,
    fail_at,
    matching,
    member_of,
)
from appliance.core.rules import (
    SERVED_OPERATORS,
    AmountRule,
    Language,
    Operator,
    Product,
    Rules,
)

_CORE = Rules()


def _or(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


_SERVED = tuple(op for op in Operator if op in SERVED_OPERATORS)
ServedOperator = Annotated[Operator, member_of(
    Operator, only=_SERVED,
    message="not a served operator (expected " + _or(tuple(op.value for op in _SERVED)) + ")")]
ProductName = Annotated[Product, member_of(
    Product, message="not an IPKO product (expected " + _or(tuple(p.value for p in Product)) + ")")]
Prefix = Annotated[str, matching(
    r"[1-9]\d{0,5}", "expected a prefix of the national number after +383 (digits, e.g. 44)")]
AnyOperator = Annotated[Operator, member_of(Operator)]
LanguageName = Annotated[Language, member_of(Language)]


class AmountRuleSection(Section):
    """`[rules.amounts.OPERATOR]` or `[rules.products.PRODUCT]`: a list or a range."""

    allowed: Amounts | None = None
    min: Amount | None = None
    max: Amount | None = None
    step: Amount | None = None

    @model_validator(mode="after")
    def _list_or_range(self) -> Self:
        if self.allowed is not None:
            for other in ("min", "max", "step"):
                value = getattr(self, other)
                if value is not None:
                    fail_at((other,), 'give either "allowed" or "min"/"max"/"step", not both',
                            value)
        return self

    def over(self, default: AmountRule) -> AmountRule:
        """This table laid over `default` (a list replaces a range and vice versa)."""
        if self.allowed is not None:
            return AmountRule(allowed=tuple(sorted(set(self.allowed))))
        base = default if not default.allowed else AmountRule()
        return AmountRule(
            minimum=base.minimum if self.min is None else self.min,
            maximum=base.maximum if self.max is None else self.max,
            step=base.step if self.step is None else self.step,
        )


def _amount_or_zero(value: object) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return Decimal(0)
    return amount(value)


AmountOrZero = Annotated[Decimal, expecting("an amount, or 0 for off", _amount_or_zero)]


class RulesSection(Section):
    """`[rules]`; a key left out keeps the core's default."""

    default_language: LanguageName = _CORE.default_language
    transliterate: Flag = _CORE.transliterate
    stale_after_seconds: Count = _CORE.stale_after_seconds
    timezone: TimeZone = _CORE.timezone
    alert_limits: Amounts = _CORE.alert_limits
    daily_topup_amount: Amount = _CORE.daily_topup_amount
    daily_topup_count: PositiveInt = _CORE.daily_topup_count
    # guards (DESIGN §4): top-ups of confirm_from EUR or more wait for a code (0: off)
    confirm_from: AmountOrZero = _CORE.confirm_from
    confirm_seconds: PositiveInt = _CORE.confirm_seconds
    sim_hold_hours: Count = _CORE.sim_hold_hours  # 0: no hold
    amounts: dict[ServedOperator, AmountRuleSection] = Field(default_factory=dict)
    products: dict[ProductName, AmountRuleSection] = Field(default_factory=dict)
    # prefix of the national number (after +383) = operator; added to the core's plan
    numbering_plan: dict[Prefix, AnyOperator] = Field(default_factory=dict)

    def to_rules(self) -> Rules:
        """The core's `Rules`: the defaults with this table's changes."""
        amounts = dict(_CORE.amounts)
        for op, table in self.amounts.items():
            amounts[op] = _checked(table.over(amounts.get(op, AmountRule())),
                                   ("amounts", op.value))
        products = dict(_CORE.products)
        for product, table in self.products.items():
            products[product] = _checked(table.over(products[product]),
                                         ("products", product.value))
        plan = dict(_CORE.numbering_plan)
        plan.update(self.numbering_plan)
        return Rules(
            numbering_plan=tuple(plan.items()),  # defaults in order; additions appended
            amounts=tuple(amounts.items()),
            products=tuple(products.items()),
            daily_topup_amount=self.daily_topup_amount,
            daily_topup_count=self.daily_topup_count,
            confirm_from=self.confirm_from,
            confirm_seconds=self.confirm_seconds,
            sim_hold_hours=self.sim_hold_hours,
            alert_limits=tuple(sorted(set(self.alert_limits))),
            default_language=self.default_language,
            transliterate=self.transliterate,
            stale_after_seconds=self.stale_after_seconds,
            timezone=self.timezone,
        )


def _checked(rule: AmountRule, loc: tuple[str, ...]) -> AmountRule:
    if not rule.allowed and rule.maximum < rule.minimum:
        fail_at((*loc, "max"), f"expected at least min ({rule.minimum}), got {rule.maximum}",
                rule.maximum)
    return rule


def rules_from_toml(value: object) -> Rules:
    """The validator of `Settings.rules`: the `[rules]` table, as the core's `Rules`."""
    return RulesSection.model_validate(value).to_rules()

