"""Fixed messages of `appliance fake-bank` (Albanian, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "bank.serving": (
        "Banka e rreme dëgjon në {url}\nToken-i: {token_file}\nGjendja: {state_dir}\n"
        "Ndal me Ctrl+C.",
        "Fake bank listening on {url}\nToken: {token_file}\nState: {state_dir}\n"
        "Stop with Ctrl+C.",
    ),
    "bank.stopped": ("Banka e rreme u ndal.", "Fake bank stopped."),
    "bank.bad_amount": (
        "--amount: pritej një shumë si -12.50 (të shumtën dy decimale), u dha {value!r}",
        "--amount: expected an amount like -12.50 (at most two decimals), got {value!r}",
    ),
    "bank.unknown_account": (
        "--account: banka e rreme nuk ka llogari {account!r}",
        "--account: the fake bank has no account {account!r}",
    ),
    "bank.unlisted_type": (
        "--type: {value!r} nuk është kod i dokumentuar i bankës ({codes}); u regjistrua siç "
        "u dha (kutia tregon një fjalë neutrale për të).",
        "--type: {value!r} is not one of the bank's documented codes ({codes}); booked as "
        "given (the box shows a neutral word for it).",
    ),
    "bank.bad_phone": (
        "--phone: pritej një numër E.164 si +38344123456, u dha {value!r}",
        "--phone: expected an E.164 number like +38344123456, got {value!r}",
    ),
    "bank.bad_time": (
        "--at: pritej një kohë ISO 8601 me zonë, si 2026-12-01T10:00:00+00:00, u dha {value!r}",
        "--at: expected an ISO 8601 time with an offset, like 2026-12-01T10:00:00+00:00, "
        "got {value!r}",
    ),
    "bank.unknown_phone": (
        "--phone: banka e rreme nuk ka marrëveshje në {phone}",
        "--phone: the fake bank has no agreement on {phone}",
    ),
    "bank.sim_swapped": (
        "SIM i ri pas {phone} që nga {at} (marrëveshjet: {agreements})",
        "New SIM behind {phone} since {at} (agreements: {agreements})",
    ),
    "bank.card_line": (
        "{id:<6} ***{last4}  {status:<8} {customer:<24} {phones}",
        "{id:<6} ***{last4}  {status:<8} {customer:<24} {phones}",
    ),
    "bank.not_running": (
        "Asnjë bankë e rreme nuk po punon në {state_dir} (nis: appliance fake-bank serve)",
        "No fake bank is running in {state_dir} (start one: appliance fake-bank serve)",
    ),
    "bank.booked_offline": (
        "Asnjë bankë e rreme nuk po punon në {state_dir}: lëvizja u regjistrua në librin e saj "
        "{ledger}{new}; e sheh kush sinkronizohet pasi të niset (appliance fake-bank serve "
        "--state-dir {state_dir}).",
        "No fake bank is running in {state_dir}: booked into its ledger {ledger}{new}; "
        "synced once it starts (appliance fake-bank serve --state-dir {state_dir}).",
    ),
    "bank.new_ledger": (" (i ri: a është --state-dir i duhuri?)",
                        " (new: is --state-dir the right one?)"),
    "bank.fault_set": (
        "Defekti tani: {mode} (numri: {count}, vonesa: {delay}s)",
        "Fault now: {mode} (count: {count}, delay: {delay}s)",
    ),
    "bank.bad_fault": (
        "MODE: pritej një nga {modes}, u dha {value!r}",
        "MODE: expected one of {modes}, got {value!r}",
    ),
    "bank.admin_failed": (
        "Banka e rreme refuzoi: {error}",
        "The fake bank refused: {error}",
    ),
    "bank.port_busy": (
        "--port: porti {port} nuk mund të hapet: {error}",
        "--port: cannot listen on port {port}: {error}",
    ),
}
