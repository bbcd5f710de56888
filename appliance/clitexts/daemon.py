"""CLI texts of `appliance run` and `appliance demo`."""

TEXTS: dict[str, tuple[str, str]] = {
    "demo.already_running": (
        "appliance: --state-dir {state_dir}: një demo tjetër po punon aty (pid {pid}); "
        "ndaleni atë ose zgjidhni një dosje tjetër",
        "appliance: --state-dir {state_dir}: another demo is running there (pid {pid}); "
        "stop it or choose another directory",
    ),
    "daemon.start_failed": (
        "appliance: daemoni nuk nisi: {error}",
        "appliance: the daemon could not start: {error}",
    ),
    "demo.title": (
        "Demo e aparatit SMS-banking — gjithçka lokalisht, me të dhëna demo",
        "SMS-banking appliance demo — everything local, with demo data",
    ),
    "demo.pty": ("Modemi (pty):", "Modem (pty):"),
    "demo.bank": ("Banka (fake):", "Bank (fake):"),
    "demo.state": ("Gjendja:", "State:"),
    "demo.config": ("Konfigurimi:", "Config:"),
    "demo.status_page": ("Faqja e gjendjes:", "Status page:"),
    "demo.metrics": ("Metrikat (Prometheus):", "Metrics (Prometheus):"),
    "demo.phones": ("Telefonat demo", "Demo phones"),
    "demo.col_phone": ("Telefoni", "Phone"),
    "demo.col_who": ("Kush", "Who"),
    "demo.col_try": ("Provo", "Try"),
    "demo.legend": (
        "B = bilanci, BK = kursimi, NUMRI SHUMA = mbushje, SHUMA = mbushje e numrit tuaj, "
        "Internet/TV/DuoTV/DuoFIX ID SHUMA = produkt IPKO",
        "B = balance, BK = savings, NUMBER AMOUNT = top-up, AMOUNT = top up your own "
        "number, Internet/TV/DuoTV/DuoFIX ID AMOUNT = IPKO product",
    ),
    "demo.how_to_block": (
        "Kartë e humbur? Dërgo '{text}' nga {phone} (kartat e bankës: {cards}).",
        "Lost card? Text '{text}' from {phone} (the bank's cards: {cards}).",
    ),
    "demo.how_to_text": (
        "Dërgo një SMS nga një terminal tjetër:",
        "Send an SMS from a second terminal:",
    ),
    "demo.how_to_read": ("Shiko përgjigjet:", "See the replies:"),
    "demo.how_to_status": ("Gjendja e aparatit:", "The box's state:"),
    "demo.how_to_stop": (
        "Ndal me Ctrl+C (ose SIGTERM).",
        "Stop with Ctrl+C (or SIGTERM).",
    ),
    "demo.ready": ("Demo gati.", "Demo ready."),
    "demo.stopped": ("Demo u ndal.", "Demo stopped."),
    "demo.first_sync_failed": (
        "Sinkronizimi i parë me bankën dështoi: {error}",
        "The first bank sync failed: {error}",
    ),
    "demo.bad_state_dir": (
        "--state-dir: {path} ekziston dhe nuk është dosje",
        "--state-dir: {path} exists and is not a directory",
    ),
}
