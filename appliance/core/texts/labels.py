"""Names inside SMS texts, (sq, en, sr): operators, account kinds, services, movement types.

Data only; `core.texts` picks the language. The movement-type table is the one place the
bank's type codes (DESIGN §6) become words for alerts and statements.
"""

from __future__ import annotations

from appliance.core.rules import Operator, Product

__all__ = ["KINDS", "MOVEMENT_OTHER", "MOVEMENT_TYPES", "OPERATORS", "PRODUCTS", "SERVICES",
           "SPAN_WORDS"]

OPERATORS: dict[Operator, tuple[str, str, str]] = {
    Operator.VALA: ("Vala", "Vala", "Vala"),
    Operator.IPKO_MOBILE: ("IPKO", "IPKO", "IPKO"),
    Operator.IPKO_FIXED: ("IPKO fiks", "IPKO fixed", "IPKO fiksni"),
    Operator.Z_MOBILE: ("Z Mobile", "Z Mobile", "Z Mobile"),
    Operator.MTS: ("mts", "mts", "mts"),
    Operator.FOREIGN: ("operatorëve të huaj", "foreign", "stranih operatera"),
    Operator.UNKNOWN: ("operatorëve të panjohur", "unknown", "nepoznatih operatera"),
}
# Product names are IPKO's brands, the same in every language.
PRODUCTS: dict[Product, str] = {
    Product.INTERNET: "Internet",
    Product.TV: "TV",
    Product.DUOTV: "DuoTV",
    Product.DUOFIX: "DuoFIX",
}
SERVICES: dict[str, tuple[str, str, str]] = {
    "balance": ("bilanci", "balance", "stanje"),
    "topup": ("mbushje", "top-up", "dopuna"),
    "alerts": ("njoftimi", "notification", "obaveštenja"),
}
KINDS: dict[str, tuple[str, str, str]] = {
    "current": ("Rrjedhëse", "Current", "Tekući"),
    "business": ("Biznes", "Business", "Poslovni"),
    "savings": ("Kursim", "Savings", "Štednja"),
}
# `1 deri 50 EUR, vetëm euro të plota`: (to, whole euros, in steps of).
SPAN_WORDS: tuple[tuple[str, str, str], ...] = (
    ("deri", "to", "do"),
    (", vetëm euro të plota", ", whole euros", ", samo celi evri"),
    (", me hap {step}", " in steps of {step}", ", u koracima od {step}"),
)
# The bank's movement type codes as customers read them; a code not here reads as
# MOVEMENT_OTHER, never raw.
MOVEMENT_TYPES: dict[str, tuple[str, str, str]] = {
    "card_payment": ("Pagesë me kartë", "Card payment", "Plaćanje karticom"),
    "atm_withdrawal": ("Tërheqje në ATM", "ATM withdrawal", "Podizanje na bankomatu"),
    "transfer_in": ("Transfer hyrës", "Transfer in", "Dolazni prenos"),
    "transfer_out": ("Transfer dalës", "Transfer out", "Odlazni prenos"),
    "salary": ("Pagë", "Salary", "Plata"),
    "fee": ("Tarifë", "Fee", "Naknada"),
    "interest": ("Interes", "Interest", "Kamata"),
    "topup": ("Mbushje", "Top-up", "Dopuna"),
    "refund": ("Rimbursim", "Refund", "Povraćaj"),
    "standing_order": ("Urdhër i përhershëm", "Standing order", "Trajni nalog"),
    "cash_deposit": ("Depozitë në para", "Cash deposit", "Uplata gotovine"),
    "card_refund": ("Rimbursim në kartë", "Card refund", "Povraćaj na karticu"),
    "cash_withdrawal": ("Tërheqje në para", "Cash withdrawal", "Podizanje gotovine"),
    "direct_debit": ("Debitim direkt", "Direct debit", "Direktno zaduženje"),
    "pension": ("Pension", "Pension", "Penzija"),
    "loan_repayment": ("Këst kredie", "Loan repayment", "Rata kredita"),
}
MOVEMENT_OTHER: tuple[str, str, str] = ("Lëvizje", "Movement", "Promena")
