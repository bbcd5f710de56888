"""CLI texts of `appliance demo --boxes N [--postgres]` (a fleet on one database)."""

TEXTS: dict[str, tuple[str, str]] = {
    "fleet.title": (
        "Demo e aparatit SMS-banking — {boxes} kuti në një bazë të dhënash të përbashkët",
        "SMS-banking appliance demo — {boxes} boxes on one shared database",
    ),
    "fleet.database": ("Baza e të dhënave:", "Database:"),
    "fleet.boxes": ("Kutitë (secila me modemin e vet):", "Boxes (each with its own modem):"),
    "fleet.col_pid": ("pid", "pid"),
    "fleet.col_pty": ("Modemi (pty)", "Modem (pty)"),
    "fleet.how_to_text": (
        "Dërgo një SMS te modemi i një kutie, nga një terminal tjetër:",
        "Send an SMS to one box's modem, from a second terminal:",
    ),
    "fleet.how_to_read": (
        "Shiko çfarë dërgoi modemi i një kutie:",
        "See what one box's modem sent:",
    ),
    "fleet.how_to_kill": (
        "Vrit një kuti (mbetet e vdekur; të tjerat vazhdojnë punën e saj):",
        "Kill a box (it stays dead; the others carry on with its work):",
    ),
    "fleet.box_died": (
        "Kutia {name} (pid {pid}) ka vdekur (kodi {code}); të tjerat vazhdojnë.",
        "Box {name} (pid {pid}) died (exit {code}); the others carry on.",
    ),
    "fleet.box_failed": (
        "appliance: kutia {name} nuk nisi (kodi {code}); shih {log}",
        "appliance: box {name} did not start (exit {code}); see {log}",
    ),
    "fleet.box_timeout": (
        "appliance: kutia {name} nuk u bë gati për {seconds} s; shih {log}",
        "appliance: box {name} was not ready within {seconds} s; see {log}",
    ),
    "fleet.no_postgres": (
        "appliance: --postgres: {error}",
        "appliance: --postgres: {error}",
    ),
    "fleet.store_without_postgres": (
        "appliance: --postgres: ky version i aparatit nuk njeh PostgreSQL "
        "([database] url); përdorni demon pa --postgres",
        "appliance: --postgres: this build of the appliance has no PostgreSQL store "
        "([database] url); run the demo without --postgres",
    ),
}
