"""The fake bank's demo seed, embedded: the same text as config/demo-bank.yaml (a test keeps
them identical), so that an installed package without the repository's config/ still
starts a seeded fake bank."""

from __future__ import annotations

DEMO_SEED_YAML = """\
# The fake bank's seed: loaded into STATE_DIR/fakebank.sqlite on its first start.
# Money as strings (never floats). Times UTC. Phones E.164.
# Movement types are the bank's codes (docs/bank-api.md lists them): card_payment, fee, ...
# Vala numbers: +38344…, +38345… ; IPKO mobile: +38349…, +38343… ; IPKO fixed: +38338…
#
# Demo phones (the demo banner picks from these):
#   +38344123456  Arben, Vala, Albanian, alerts from 500 EUR, private current + savings
#   +38349234567  Drita, IPKO, English, alerts from 1,000 EUR
#   +38345345678  Besnik, Vala, Albanian, private + business current + savings, 2,000 EUR
#
# Cards (`BLLOKO <last4>` blocks one; `appliance fake-bank cards` lists them): Arben ***4821
# and ***7315, Drita ***5502, Besnik ***6034 (and ***9117, blocked already), Teuta ***2288,
# Kosova Trade ***3090, Liridona ***1406.
#
# Ported numbers keep their prefix but are served by another operator now: a top-up that
# names the prefix's operator is refused by the bank with `operator_mismatch`.
ported:
  "+38344999001": ipko_mobile   # looks like Vala, is IPKO now
  "+38349999002": vala          # looks like IPKO, is Vala now

customers:
  - id: C1001
    name: Arben Krasniqi
    kind: private
    cards:
      - {id: K1001, last4: "4821", status: active}
      - {id: K1002, last4: "7315", status: active}
    accounts:
      - id: A1001
        kind: current
        number: "1110000100012345"
        currency: EUR
        opening_balance: "1979.50"
        movements:
          - {amount: "-2.00", type: fee, booked_at: "2026-11-01T06:00:00+00:00"}
          - {amount: "-150.00", type: standing_order, booked_at: "2026-11-05T06:00:00+00:00"}
          - {amount: "-45.20", type: card_payment, booked_at: "2026-11-20T09:12:00+00:00"}
          - {amount: "950.00", type: salary, booked_at: "2026-11-21T07:00:00+00:00"}
          - {amount: "12.50", type: refund, booked_at: "2026-11-22T11:30:00+00:00"}
          - {amount: "-12.50", type: card_payment, booked_at: "2026-11-24T16:40:00+00:00"}
          - {amount: "-600.00", type: transfer_out, booked_at: "2026-11-25T10:05:00+00:00"}
      - id: A1002
        kind: savings
        number: "1110000100054321"
        currency: EUR
        opening_balance: "5200.00"
        movements:
          - {amount: "3.12", type: interest, booked_at: "2026-11-01T00:00:00+00:00"}
    agreements:
      - id: G1001
        phone: "+38344123456"
        services: [alerts, balance, topup]
        alert_limit: "500"
        language: sq
        active: true

  - id: C1002
    name: Drita Gashi
    kind: private
    cards:
      - {id: K2001, last4: "5502", status: active}
    accounts:
      - id: A2001
        kind: current
        number: "1110000200023456"
        currency: EUR
        opening_balance: "355.50"
        movements:
          - {amount: "-35.00", type: direct_debit, booked_at: "2026-11-20T06:00:00+00:00"}
          - {amount: "1200.00", type: transfer_in, booked_at: "2026-11-22T08:30:00+00:00"}
          - {amount: "-1050.00", type: transfer_out, booked_at: "2026-11-23T14:10:00+00:00"}
    agreements:
      - id: G2001
        phone: "+38349234567"
        services: [alerts, balance, topup]
        alert_limit: "1000"
        language: en
        active: true

  - id: C1003
    name: Besnik Berisha
    kind: private
    cards:
      - {id: K3001, last4: "6034", status: active}
      - {id: K3002, last4: "9117", status: blocked}   # lost last year, replaced by K3001
    accounts:
      - id: A3001
        kind: current
        number: "1110000300034567"
        currency: EUR
        opening_balance: "2020.75"
        movements:
          - {amount: "300.00", type: cash_deposit, booked_at: "2026-11-10T10:15:00+00:00"}
          - {amount: "-10.00", type: topup, booked_at: "2026-11-15T19:02:00+00:00"}
          - {amount: "-80.00", type: atm_withdrawal, booked_at: "2026-11-19T18:20:00+00:00"}
      - id: A3002
        kind: business
        number: "1110000300098765"
        currency: EUR
        opening_balance: "18450.00"
        movements:
          - {amount: "2500.00", type: transfer_in, booked_at: "2026-11-24T09:00:00+00:00"}
          - {amount: "-2200.00", type: transfer_out, booked_at: "2026-11-25T11:45:00+00:00"}
      - id: A3003
        kind: savings
        number: "1110000300011111"
        currency: EUR
        opening_balance: "12000.00"
    agreements:
      - id: G3001
        phone: "+38345345678"
        services: [alerts, balance, topup]
        alert_limit: "2000"
        language: sq
        active: true

  - id: C1004
    name: Teuta Hoxha
    kind: private
    cards:
      - {id: K4001, last4: "2288", status: active}
    accounts:
      - id: A4001
        kind: current
        number: "1110000400045678"
        currency: EUR
        opening_balance: "3.20"   # too little for most top-ups: insufficient_funds
    agreements:
      - id: G4001
        phone: "+38343456789"
        services: [alerts, balance, topup]
        alert_limit: "5000"
        language: en
        active: true

  - id: C1005
    name: Kosova Trade SH.P.K.
    kind: business
    cards:
      - {id: K5001, last4: "3090", status: active}
    accounts:
      - id: A5001
        kind: business
        number: "1110000500056789"
        currency: EUR
        opening_balance: "48000.00"
        movements:
          - {amount: "-5400.00", type: transfer_out, booked_at: "2026-11-18T10:00:00+00:00"}
          - {amount: "7300.00", type: transfer_in, booked_at: "2026-11-26T13:30:00+00:00"}
    agreements:
      - id: G5001
        phone: "+38344567890"
        services: [alerts, balance, topup]
        alert_limit: "5000"
        language: sq
        active: true
      - id: G5002   # the company's accountant, on IPKO, in English
        phone: "+38349567891"
        services: [alerts, balance]
        alert_limit: "2000"
        language: en
        active: true

  - id: C1006
    name: Liridona Morina
    kind: private
    cards:
      - {id: K6001, last4: "1406", status: active}
    accounts:
      - id: A6001
        kind: current
        number: "1110000600067890"
        currency: EUR
        opening_balance: "145.00"
        movements:
          - {amount: "5.00", type: card_refund, booked_at: "2026-11-25T09:00:00+00:00"}
          - {amount: "-20.00", type: card_payment, booked_at: "2026-11-26T12:00:00+00:00"}
      - id: A6002
        kind: savings
        number: "1110000600076543"
        currency: EUR
        opening_balance: "800.00"
    agreements:
      - id: G6001   # her number was ported from Vala to IPKO
        phone: "+38344999001"
        services: [alerts, balance, topup]
        alert_limit: "500"
        language: en
        active: true
      - id: G6002   # an old number she gave up: the agreement is closed
        phone: "+38349999002"
        services: [alerts, balance, topup]
        alert_limit: "1000"
        language: sq
        active: false
"""
