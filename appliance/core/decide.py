"""Command + what we know about the sender → the replies to queue and the order to place.

Pure: `decide` reads only its arguments (DESIGN §2 I6). The caller commits the inbound
message as handled, the replies and the order in one transaction (I2). Every reply is
already prepared for sending (`gsm7.prepare`), one segment each whenever possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from appliance.core import examples, phones, texts
from appliance.core.commands import (
    AlertsSwitch,
    BalanceQuery,
    CardBlockRequest,
    HelpQuery,
    LanguageChoice,
    OwnTopUp,
    Parsed,
    ProductTopUp,
    Reason,
    Rejection,
    StatementQuery,
    TopUp,
)
from appliance.core.money import format_money
from appliance.core.requests import (
    AlertsChange,
    BankRequest,
    CardBlock,
    LanguageChange,
    RequestOutcome,
    request_kind,
    request_outcome_text,
)
from appliance.core.rules import SERVED_OPERATORS, Language, Operator, Product, Rules
from appliance.core.statement import statement_text
from appliance.core.views import AccountView, OrderIntent, SenderView

__all__ = ["BANK_REASONS", "Decision", "decide", "rejection_text", "topup_outcome_text"]

_HELP_REASONS = frozenset({Reason.EMPTY, Reason.UNKNOWN_COMMAND})
_NOT_TOPUP = _HELP_REASONS | {Reason.INCOMPLETE, Reason.CARD_DIGITS}
_KINDS_FOR = {"current": ("current", "business"), "savings": ("savings",)}
# The bank's top-up refusal reasons we have a sentence for; any other is "unknown".
BANK_REASONS = frozenset({"insufficient_funds", "operator_mismatch", "limit", "unknown"})


@dataclass(frozen=True)
class Decision:
    """What to do about one inbound message.

    `outcome` is a short machine tag for logs and status (`balance:current`,
    `rejected:amount_not_allowed`, `order`, `request:card_block`, `stranger_refused`, …); it
    never holds a number. `request` is a change to make at the bank (alerts, language, card
    block): the caller commits it with the message, like an order, and answers with
    `requests.request_outcome_text` when the bank has; while the bank is down, `replies`
    already tell the customer it will be made.
    """

    replies: tuple[str, ...]
    order: OrderIntent | None
    outcome: str
    request: BankRequest | None = None


def _lang(sender: SenderView, rules: Rules) -> Language:
    return texts.language_of(sender.agreement.language, rules)


def rejection_text(rejection: Rejection, lang: Language | str, rules: Rules) -> str:
    """The reply telling the customer what to fix (the help text for EMPTY/UNKNOWN_COMMAND).

    Every example it gives is derived from `rules` for the operator or product asked for,
    so the customer can send it as it stands."""
    reason = rejection.reason
    example, example_amount = examples.example(rules, rejection.operator, rejection.product)
    if reason in _HELP_REASONS:
        return texts.sms("help", lang, rules, example=examples.example(rules)[0])
    if reason is Reason.INCOMPLETE:
        return texts.sms("multipart_incomplete", lang, rules)
    product = texts.product_name(rejection.product) if rejection.product else "TV"
    if reason is Reason.AMOUNT_MISSING and rejection.product is not None:
        return texts.sms("rej_amount_missing_product", lang, rules, example=example)
    if reason is Reason.AMOUNT_NOT_ALLOWED and rejection.rule is not None:
        if rejection.product is not None:
            target = product
        elif rejection.operator is not None:
            target = texts.operator_name(rejection.operator, lang)
        else:
            target = "IPKO"
        return texts.sms(
            "rej_amount_not_allowed",
            lang,
            rules,
            amount=format_money(rejection.amount or Decimal(0)),
            target=target,
            allowed=texts.allowed_amounts(rejection.rule, lang),
        )
    if reason is Reason.OPERATOR_NOT_SERVED:
        operator = rejection.operator or Operator.UNKNOWN
        return texts.sms(
            "rej_operator_not_served", lang, rules, operator=texts.operator_name(operator, lang)
        )
    if reason is Reason.PRODUCT_UNKNOWN:
        example = examples.example(rules, product=Product.TV)[0]
    key = "rej_" + str(reason)
    if key not in texts.TEXTS:
        return texts.sms("help", lang, rules, example=examples.example(rules)[0])
    return texts.sms(key, lang, rules, example=example, example_amount=example_amount)


def _pack(lines: list[str], rules: Rules) -> tuple[str, ...]:
    return texts.pack(lines, rules)


def _balance(query: BalanceQuery, sender: SenderView, now: datetime, rules: Rules) -> Decision:
    lang = _lang(sender, rules)
    kinds = _KINDS_FOR[query.kind]
    accounts = [a for a in sender.accounts if a.kind in kinds]
    if not accounts:
        return Decision(
            (texts.sms(f"no_account_{query.kind}", lang, rules),), None, f"no_account:{query.kind}"
        )
    lines = [texts.render(f"balance_header_{query.kind}", lang)]
    for account in accounts:
        lines.append(
            texts.render(
                "balance_line",
                lang,
                label=texts.kind_label(account.kind, lang),
                account=texts.account_label(account.number),
                balance=format_money(account.balance, account.currency),
            )
        )
    as_of = known_as_of(accounts, sender.last_sync_at)
    stale_after = timedelta(seconds=rules.stale_after_seconds)
    if as_of is not None:
        when = texts.local_time(as_of, rules, now)
        if not sender.bank_reachable:
            lines.append(texts.render("balance_bank_down", lang, time=when))
        elif now - as_of > stale_after:
            lines.append(texts.render("balance_as_of", lang, time=when))
    outcome = f"balance:{query.kind}" + ("" if sender.bank_reachable else ":offline")
    return Decision(_pack(lines, rules), None, outcome)


def known_as_of(accounts: Sequence[AccountView], last_sync_at: datetime | None
                ) -> datetime | None:
    """Until when the box knows these balances are right: the oldest account's.

    An account's `as_of` is when the bank last changed its balance; a later complete sync
    that brought no change for it confirms that balance up to the sync. So a savings
    account untouched for a month is not "as of a month ago" on a box that synced a
    minute ago.
    """
    known = [a.as_of if last_sync_at is None else max(a.as_of, last_sync_at)
             for a in accounts if a.as_of is not None]
    return min(known) if known else last_sync_at


def _refuse(key: str, lang: Language, rules: Rules, outcome: str, **values: object) -> Decision:
    return Decision((texts.sms(key, lang, rules, **values),), None, outcome)


def _topup(
    order: OrderIntent, sender: SenderView, rules: Rules, lang: Language
) -> Decision:
    """Our own guards on a valid top-up; the reply comes later from the bank's answer."""
    count = sender.topups_today_count + 1
    total = sender.topups_today_amount + order.amount
    if count > rules.daily_topup_count or total > rules.daily_topup_amount:
        return _refuse(
            "daily_cap",
            lang,
            rules,
            "daily_cap",
            count=rules.daily_topup_count,
            amount=format_money(rules.daily_topup_amount),
        )
    if not sender.bank_reachable:
        return _refuse("bank_down_topup", lang, rules, "bank_down")
    return Decision((), order, "order")


def decide(
    parsed: Parsed,
    sender: SenderView | None,
    now: datetime,
    rules: Rules,
    *,
    stranger_refused_today: bool = False,
    bank_requests: bool = False,
) -> Decision:
    """The replies and the order for one parsed inbound message.

    A sender without an agreement gets one refusal a day and no account data, whatever they
    sent; a service outside the agreement is refused politely; a top-up that passes the
    operator, amount, daily-cap and bank-reachable checks becomes an `OrderIntent` with no
    reply (the reply is rendered from the bank's answer by `topup_outcome_text`).

    `STOP`/`START`, `SQ`/`EN`/`SR` and `BLLOKO` become a `Decision.request` only for a
    caller that makes such requests (`bank_requests=True`); any other caller gets a polite
    "not offered yet" for them, never silence. A statement needs `sender.movements`.
    """
    if sender is None:
        if stranger_refused_today:
            return Decision((), None, "stranger_silenced")
        lang = rules.default_language
        return _refuse("stranger", lang, rules, "stranger_refused")
    lang = _lang(sender, rules)
    services = sender.agreement.services
    if isinstance(parsed, Rejection):
        if parsed.reason not in _NOT_TOPUP and "topup" not in services:
            # No point explaining amounts to someone who cannot top up at all.
            return _refuse(
                "service_missing", lang, rules, "service_missing:topup",
                service=texts.service_name("topup", lang),
            )
        outcome = "help" if parsed.reason in _HELP_REASONS else f"rejected:{parsed.reason}"
        own = parsed.operator is None and parsed.product is None
        if parsed.reason is Reason.AMOUNT_INVALID and own:
            # `5x` alone: an own-number top-up, so the example fits the sender's operator.
            parsed = replace(parsed, operator=_own_operator(sender, rules))
        return Decision((rejection_text(parsed, lang, rules),), None, outcome)
    if isinstance(parsed, HelpQuery):
        return Decision((rejection_text(Rejection(Reason.UNKNOWN_COMMAND), lang, rules),),
                        None, "help")
    if isinstance(parsed, StatementQuery | AlertsSwitch | LanguageChoice | CardBlockRequest):
        return _service(parsed, sender, now, rules, lang, bank_requests=bank_requests)
    if isinstance(parsed, BalanceQuery):
        if "balance" not in services:
            return _refuse(
                "service_missing", lang, rules, "service_missing:balance",
                service=texts.service_name("balance", lang),
            )
        return _balance(parsed, sender, now, rules)
    if "topup" not in services:
        return _refuse(
            "service_missing", lang, rules, "service_missing:topup",
            service=texts.service_name("topup", lang),
        )
    if isinstance(parsed, TopUp):
        # parse() checked operator and amount against the same rules; check again so that a
        # hand-built TopUp cannot slip past them.
        operator = phones.operator_of(parsed.target, rules.numbering_plan)
        problem = _check_amount(operator, parsed.amount, rules)
        if problem is not None:
            return _reject(problem, lang, rules)
        order = OrderIntent(parsed.target, operator, None, None, parsed.amount)
        return _topup(order, sender, rules, lang)
    if isinstance(parsed, OwnTopUp):
        phone = sender.agreement.phone
        operator = _own_operator(sender, rules)
        problem = _check_amount(operator, parsed.amount, rules)
        if problem is not None:
            return _reject(problem, lang, rules)
        order = OrderIntent(phone, operator, None, None, parsed.amount)
        return _topup(order, sender, rules, lang)
    if isinstance(parsed, ProductTopUp):
        rule = rules.product_rule(parsed.product)
        if rule is None or not rule.accepts(parsed.amount):
            return _reject(
                Rejection(
                    Reason.AMOUNT_NOT_ALLOWED if rule else Reason.PRODUCT_UNKNOWN,
                    str(parsed.product),
                    product=parsed.product,
                    rule=rule,
                    amount=parsed.amount,
                ),
                lang,
                rules,
            )
        order = OrderIntent(
            parsed.subscriber_id,
            Operator.IPKO_FIXED,
            parsed.product,
            parsed.subscriber_id,
            parsed.amount,
        )
        return _topup(order, sender, rules, lang)
    raise TypeError(f"not a parsed command: {type(parsed).__name__}")


def _service(
    command: StatementQuery | AlertsSwitch | LanguageChoice | CardBlockRequest,
    sender: SenderView,
    now: datetime,
    rules: Rules,
    lang: Language,
    *,
    bank_requests: bool,
) -> Decision:
    """The statement (from local data), or the request to make at the bank."""
    agreement = sender.agreement
    if isinstance(command, StatementQuery):
        if "balance" not in agreement.services:
            return _refuse("service_missing", lang, rules, "service_missing:balance",
                           service=texts.service_name("balance", lang))
        if sender.movements is None:
            return _refuse("not_available_yet", lang, rules, "not_available:statement")
        as_of = known_as_of(sender.accounts, sender.last_sync_at)
        lines = statement_text(sender.accounts, sender.movements, now, rules, lang,
                                 as_of=as_of, bank_reachable=sender.bank_reachable)
        return Decision(lines, None, "statement")
    request: BankRequest
    if isinstance(command, AlertsSwitch):
        if "alerts" not in agreement.services:
            return _refuse("service_missing", lang, rules, "service_missing:alerts",
                           service=texts.service_name("alerts", lang))
        request = AlertsChange(agreement.id, command.enabled)
    elif isinstance(command, LanguageChoice):
        request = LanguageChange(agreement.id, command.language)
    else:
        request = CardBlock(agreement.id, agreement.customer_id, command.last4)
    if not bank_requests:
        return _refuse("not_available_yet", lang, rules,
                       f"not_available:{request_kind(request)}")
    replies: tuple[str, ...] = ()
    if not sender.bank_reachable:  # it is made when the bank is back; say so now
        replies = (request_outcome_text(request, RequestOutcome.BANK_DOWN, lang, rules),)
    return Decision(replies, None, f"request:{request_kind(request)}", request)


def _own_operator(sender: SenderView, rules: Rules) -> Operator:
    """The operator of the sender's own phone: the bank's record, else the prefix."""
    agreement = sender.agreement
    return agreement.operator or phones.operator_of(agreement.phone, rules.numbering_plan)


def _check_amount(operator: Operator, amount: Decimal, rules: Rules) -> Rejection | None:
    if operator is Operator.FOREIGN:
        return Rejection(Reason.NUMBER_FOREIGN, operator=operator)
    if operator is Operator.UNKNOWN:
        return Rejection(Reason.OPERATOR_UNKNOWN, operator=operator)
    rule = rules.amount_rule(operator)
    if operator not in SERVED_OPERATORS or rule is None:
        return Rejection(Reason.OPERATOR_NOT_SERVED, str(operator), operator=operator)
    if not rule.accepts(amount):
        return Rejection(
            Reason.AMOUNT_NOT_ALLOWED, str(operator), operator=operator, rule=rule, amount=amount
        )
    return None


def _reject(rejection: Rejection, lang: Language, rules: Rules) -> Decision:
    return Decision(
        (rejection_text(rejection, lang, rules),), None, f"rejected:{rejection.reason}"
    )


def _target_text(target: str) -> str:
    return phones.national(target) if phones.nsn_of(target) else target


def topup_outcome_text(  # noqa: PLR0917 (the seam's agreed positional signature)
    status: str,
    reason: str | None,
    amount: Decimal,
    target: str,
    balance_after: Decimal | None,
    lang: Language | str,
    rules: Rules,
    *,
    product: Product | str | None = None,
) -> str:
    """The reply for the bank's answer to a top-up, ready to send.

    `status`: `done`, `rejected` (with the bank's `reason`: insufficient_funds,
    operator_mismatch, limit, or anything else → unknown), `pending` (accepted, still
    running) or `failed` (we gave up reaching the bank). `target` is the E.164 number
    (shown in its national form) or, with `product`, the product's subscriber id (shown as
    `TV 12345678`, so the customer knows which bill was paid).
    """
    shown = _target_text(target)
    if product:
        shown = f"{texts.product_name(Product(product))} {target}"
    values: dict[str, object] = {"amount": format_money(amount), "target": shown}
    if status == "done":
        if balance_after is None:
            key = "topup_done_no_balance"
        else:
            key = "topup_done"
            values["balance"] = format_money(balance_after)
    elif status == "rejected":
        known = reason if reason in BANK_REASONS else "unknown"
        key = f"topup_rejected_{known}"
    elif status == "pending":
        key = "topup_pending"
    else:
        key = "topup_failed"
    return texts.fit(key, lang, rules, "target", **values)
