"""The fake bank: a real HTTP server on loopback serving docs/bank-api.yaml, its own ledger,
its demo seed and its control CLI.

It is the second opinion on the bank contract: it shares nothing with the real client in
`appliance.bank` (a test keeps it so), only what docs/bank-api.yaml defines.
"""
