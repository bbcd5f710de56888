"""Fixed texts of `appliance fake-modem`: (Albanian, English)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "fakemodem.serving": (
        "Modemi i rremë po punon në {pty} (lidhja {link}); kontrolli: {socket}. "
        "Ndalo me Ctrl-C.",
        "Fake modem running on {pty} (link {link}); control: {socket}. Stop with Ctrl-C.",
    ),
    "fakemodem.stopped": ("Modemi i rremë u ndal.", "Fake modem stopped."),
    "fakemodem.not_running": (
        "Asnjë modem i rremë nuk përgjigjet në {state_dir} (nis: appliance fake-modem serve).",
        "No fake modem is running at {state_dir} (start one: appliance fake-modem serve).",
    ),
    "fakemodem.refused": ("Modemi i rremë refuzoi: {error}", "The fake modem refused: {error}"),
    "fakemodem.delivered": (
        "U dorëzua në modem: {parts} pjesë nga {sender}.",
        "Delivered to the modem: {parts} part(s) from {sender}.",
    ),
    "fakemodem.pdu_stored": ("PDU u ruajt në modem.", "PDU stored in the modem."),
    "fakemodem.nothing_sent": ("Asgjë e dërguar ende.", "Nothing sent yet."),
    "fakemodem.storage_empty": ("Memoria e modemit është bosh.", "The modem's storage is empty."),
    "fakemodem.fault_armed": ("Defekti {kind} u aktivizua.", "Fault {kind} armed."),
    "fakemodem.faults_reset": ("Të gjitha defektet u hoqën.", "All faults cleared."),
    "fakemodem.usage_deliver": (
        "deliver: jep --from NUMËR dhe TEKST, ose vetëm --pdu HEX.",
        "deliver: give --from NUMBER and TEXT, or --pdu HEX alone.",
    ),
    "fakemodem.bad_sender": (
        "--from: pritej një numër (+38344123456) ose një dërgues alfanumerik me 1–11 "
        "shenja, u dha {value!r}",
        "--from: expected a number (+38344123456) or an alphanumeric sender of 1-11 "
        "characters, got {value!r}",
    ),
    "fakemodem.bad_fault": (
        "KIND: pritej një nga {kinds}, u dha {value!r}",
        "KIND: expected one of {kinds}, got {value!r}",
    ),
    "fakemodem.bad_fault_param": (
        "{name}: pritej {expected}, u dha {value!r}",
        "{name}: expected {expected}, got {value!r}",
    ),
    "fakemodem.bad_param": (
        "fault: parametri {param!r} duhet të jetë EMËR=VLERË.",
        "fault: parameter {param!r} must be NAME=VALUE.",
    ),
    "fakemodem.bad_time_scale": (
        "--time-scale: pritej një numër më i madh se 0 (0.01 = 100 herë më shpejt), "
        "u dha {value!r}",
        "--time-scale: expected a number greater than 0 (0.01 = 100 times faster), "
        "got {value!r}",
    ),
    "fakemodem.bad_smsc": (
        "--smsc: pritej një numër (+38344000100), u dha {value!r}",
        "--smsc: expected a number (+38344000100), got {value!r}",
    ),
    "fakemodem.port_busy": (
        "Nuk mund të nisë modemi i rremë: {error}",
        "Cannot start the fake modem: {error}",
    ),
}
