"""The use cases (DESIGN §3), one module each, over the core, the store and the ports.

`inbound` (store → decide → commit), `outbound` (claim → send → mark, delivery reports,
recovery), `sync` (the bank's change feed), `topups` (orders to the bank). They reach the
world only through `ports`; the daemon wires the adapters to them.
"""
