"""Texts of `appliance doctor`, `appliance status` and `appliance backup` (sq, en)."""

from __future__ import annotations

_RECOVER_SQ = (
    "Me radhë: 1) rihape: `systemctl restart appliance` (ose prit, daemoni e rihap vetë); "
    "2) nëse ende hesht: `ATZ` me picocom në port (me shërbimin të ndalur); "
    "3) fike dhe ndize stikun: hiqe nga USB 10 sekonda dhe fute sërish. "
    "Kurrë mos dërgo reset të verbër (AT+CFUN=1,1): mund ta kthejë stikun në disk USB."
)
_RECOVER_EN = (
    "In this order: 1) reopen: `systemctl restart appliance` (or wait: the daemon reopens it "
    "itself); 2) still silent: send `ATZ` with picocom on the port (service stopped); "
    "3) power-cycle the stick: unplug it for 10 seconds and plug it back. "
    "Never a blind soft reset (AT+CFUN=1,1): it can switch the stick into USB-storage mode."
)

TEXTS: dict[str, tuple[str, str]] = {
    # --- table -----------------------------------------------------------------------
    "ops.col.check": ("Kontrolli", "Check"),
    "ops.col.status": ("Gjendja", "Status"),
    "ops.col.detail": ("Hollësi", "Detail"),
    "ops.col.advice": ("Çfarë të bësh", "What to do"),
    "ops.doctor.title": ("appliance doctor — {config}", "appliance doctor — {config}"),
    "ops.doctor.summary_ok": ("Të gjitha kontrollet kaluan ({warn} paralajmërime).",
                              "All checks passed ({warn} warnings)."),
    "ops.doctor.summary_fail": ("{fail} kontrolle dështuan, {warn} paralajmërime.",
                                "{fail} checks failed, {warn} warnings."),
    # --- labels ------------------------------------------------------------------------
    "ops.label.config": ("konfigurimi", "config"),
    "ops.label.db_open": ("databaza: hapet", "database: opens"),
    "ops.label.db_integrity": ("databaza: integriteti", "database: integrity"),
    "ops.label.db_wal": ("databaza: modi WAL", "database: WAL mode"),
    "ops.label.disk": ("disku: hapësirë e lirë", "disk: free space"),
    "ops.label.daemon": ("daemoni", "daemon"),
    "ops.label.modemmanager": ("ModemManager", "ModemManager"),
    "ops.label.modem": ("modemi {name}: {what}", "modem {name}: {what}"),
    "ops.label.bank_reach": ("banka: arritshme", "bank: reachable"),
    "ops.label.bank_token": ("banka: tokeni", "bank: token"),
    "ops.label.bank_clock": ("banka: ora", "bank: clock"),
    "ops.label.files_dir": ("skedarët: dosja e gjendjes", "files: state directory"),
    "ops.label.files_data": ("skedarët: të dhëna personale", "files: personal data"),
    "ops.label.files_token": ("skedarët: tokeni i bankës", "files: bank token"),
    "ops.what.port": ("porta", "port"),
    "ops.what.at": ("përgjigjet AT", "answers AT"),
    "ops.what.model": ("modeli", "model"),
    "ops.what.pin": ("PIN i SIM", "SIM PIN"),
    "ops.what.imsi": ("SIM (IMSI)", "SIM (IMSI)"),
    "ops.what.registration": ("rrjeti", "network"),
    "ops.what.signal": ("sinjali", "signal"),
    "ops.what.storage": ("memoria SMS", "SMS storage"),
    "ops.what.smsc": ("qendra SMS", "SMS centre"),
    "ops.what.snapshot": ("të dhënat e daemonit", "daemon's facts"),
    # --- details -----------------------------------------------------------------------
    "ops.config.ok": ("{path}: në rregull ({modems} modem(ë))",
                      "{path}: valid ({modems} modem(s))"),
    "ops.db.ok": ("{path}", "{path}"),
    "ops.db.cannot": ("nuk hapet: {error}", "cannot open: {error}"),
    "ops.db.missing": ("{path} nuk ekziston ende", "{path} does not exist yet"),
    "ops.db.no_dir": ("dosja {path} nuk ekziston", "the directory {path} does not exist"),
    "ops.disk.free": ("{mib} MiB të lira ({pct}%) te {path}", "{mib} MiB free ({pct}%) at {path}"),
    "ops.daemon.running": ("në punë (pid {pid}); faktet e modemit nga daemoni, {age} s më parë",
                           "running (pid {pid}); modem facts from the daemon, {age} s old"),
    "ops.daemon.stopped": ("nuk punon: askush nuk u përgjigjet klientëve (doctor i hapi "
                           "vetë modemet)",
                           "not running: nobody answers the customers (doctor opened the "
                           "modems itself)"),
    "ops.daemon.starting": ("po niset (pid {pid} mban {port}), ende pa të dhëna",
                            "starting (pid {pid} holds {port}), no facts recorded yet"),
    "ops.files.ok": ("vetëm për pronarin: {files}", "the owner's alone: {files}"),
    "ops.files.wide": ("të tjerët mund t'i lexojnë: {files} (duhet {want})",
                       "others may read them: {files} (should be {want})"),
    "ops.daemon.stale": ("në punë (pid {pid}), por faktet e modemit janë {age} s të vjetra",
                         "running (pid {pid}), but its modem facts are {age} s old"),
    "ops.mm.running": ("në punë (pid {pid}): mund të ndërhyjë te modemi",
                       "running (pid {pid}): it may talk to the modem too"),
    "ops.mm.absent": ("nuk punon", "not running"),
    "ops.port.absent": ("{port} nuk ekziston", "{port} does not exist"),
    "ops.port.busy": ("{port} e zënë nga një proces tjetër", "{port} is held by another process"),
    "ops.port.ok": ("{port}", "{port}"),
    "ops.port.denied": ("{port}: pa të drejtë leximi/shkrimi", "{port}: permission denied"),
    "ops.port.daemon": ("{port} e mban daemoni (pid {pid}), ende pa të dhëna",
                        "{port} is held by the daemon (pid {pid}), no facts recorded yet"),
    "ops.at.silent": ("nuk përgjigjet: {error}", "no answer: {error}"),
    "ops.at.ok": ("OK", "OK"),
    "ops.at.from_daemon": ("në shërbim te daemoni", "in service in the daemon"),
    "ops.at.daemon_down": ("jashtë shërbimit te daemoni: {error}",
                           "out of service in the daemon: {error}"),
    "ops.model.ok": ("{model}, firmware {firmware}", "{model}, firmware {firmware}"),
    "ops.model.unknown": ("modeli i panjohur", "model unknown"),
    "ops.pin.ready": ("READY (nuk kërkon PIN)", "READY (no PIN needed)"),
    "ops.pin.asks": ("SIM kërkon {state}", "SIM asks for {state}"),
    "ops.pin.no_sim": ("nuk ka SIM", "no SIM"),
    "ops.imsi.first": ("{imsi} (hera e parë)", "{imsi} (first seen)"),
    "ops.imsi.same": ("{imsi} (e njëjta SIM si më parë)", "{imsi} (same SIM as before)"),
    "ops.imsi.changed": ("SIM u ndërrua: tani {imsi}, më parë {previous}",
                         "SIM changed: now {imsi}, before {previous}"),
    "ops.imsi.unknown": ("IMSI e panjohur", "IMSI unknown"),
    "ops.reg.home": ("i regjistruar, {operator}", "registered, {operator}"),
    "ops.reg.roaming": ("në roaming, {operator}", "roaming, {operator}"),
    "ops.reg.denied": ("rrjeti e refuzoi regjistrimin", "the network denied registration"),
    "ops.reg.none": ("i paregjistruar ({state})", "not registered ({state})"),
    "ops.signal.good": ("{dbm} dBm (mirë)", "{dbm} dBm (good)"),
    "ops.signal.weak": ("{dbm} dBm (i dobët)", "{dbm} dBm (weak)"),
    "ops.signal.bad": ("{dbm} dBm (shumë i dobët)", "{dbm} dBm (too weak)"),
    "ops.signal.unknown": ("i panjohur (pa sinjal)", "unknown (no signal)"),
    "ops.storage.ok": ("{used}/{total} të zëna", "{used}/{total} used"),
    "ops.storage.nearly": ("{used}/{total} të zëna: pothuajse plot",
                           "{used}/{total} used: nearly full"),
    "ops.storage.full": ("{used}/{total}: PLOT, asnjë SMS i ri nuk do të vijë",
                         "{used}/{total}: FULL, no new SMS will arrive"),
    "ops.storage.unknown": ("e panjohur", "unknown"),
    "ops.smsc.none": ("nuk është vendosur", "not set"),
    "ops.snapshot.stale": ("{age} s të vjetra", "{age} s old"),
    "ops.snapshot.missing": ("daemoni nuk ka shkruar ende fakte për këtë modem",
                             "the daemon has not recorded facts for this modem yet"),
    "ops.bank.ok": ("{url} (HTTP {status})", "{url} (HTTP {status})"),
    "ops.bank.unreachable": ("{url}: {error}", "{url}: {error}"),
    "ops.bank.down": ("{url}: HTTP {status}", "{url}: HTTP {status}"),
    "ops.token.ok": ("pranohet", "accepted"),
    "ops.token.refused": ("refuzohet (HTTP {status})", "refused (HTTP {status})"),
    "ops.token.unreadable": ("{path}: {error}", "{path}: {error}"),
    "ops.token.untested": ("nuk u provua (banka nuk arrihet)", "not tested (bank unreachable)"),
    "ops.clock.untested": ("nuk u krahasua (banka nuk arrihet)",
                           "not compared (bank unreachable)"),
    "ops.token.none": ("asnjë token_file në konfigurim", "no token_file in the config"),
    "ops.clock.skew": ("ora jonë {skew} s ndaj bankës", "our clock {skew} s against the bank's"),
    "ops.clock.unknown": ("banka nuk dërgoi orën (Date)", "the bank sent no Date header"),
    # --- advice ------------------------------------------------------------------------
    "ops.advice.config": ("Ndreq çelësin e përmendur te {path}.", "Fix the key named in {path}."),
    "ops.advice.modem_recover": (_RECOVER_SQ, _RECOVER_EN),
    "ops.advice.port_busy": (
        "Një program tjetër (ModemManager, picocom, gammu) e mban portën: ndale "
        "(`systemctl disable --now ModemManager`).",
        "Another program (ModemManager, picocom, gammu) holds the port: stop it "
        "(`systemctl disable --now ModemManager`).",
    ),
    "ops.advice.port_perm": (
        "Përdoruesi nuk ka të drejtë në portë: shto në grupin dialout, kontrollo rregullin udev.",
        "No permission on the port: add the user to group dialout, check the udev rule.",
    ),
    "ops.advice.antenna": (
        "Afroje antenën te dritarja ose lart, përdor kabllo zgjatuese USB larg kutisë metalike; "
        "synim ≥ -85 dBm.",
        "Move the antenna to a window or higher, use a USB extension cable away from metal "
        "boxes; aim for -85 dBm or better.",
    ),
    "ops.advice.pin_missing": (
        "Shkruaj PIN-in te /etc/appliance/credentials/sim-pins/<modemi> dhe vendos pin_file "
        "në konfigurim; ose çaktivizo PIN-in e SIM në një telefon.",
        "Write the PIN to /etc/appliance/credentials/sim-pins/<modem> and set pin_file in the "
        "config; or disable the SIM's PIN in a phone.",
    ),
    "ops.advice.pin_wrong": (
        "PIN-i te {pin_file} nuk u pranua ose mungon: kontrolloje. Mos provo me hamendje "
        "(3 gabime = PUK).",
        "The PIN in {pin_file} was missing or refused: check it. Never guess "
        "(3 wrong tries lock the SIM behind a PUK).",
    ),
    "ops.advice.puk": (
        "SIM është e bllokuar: zhbllokoje me PUK-un e operatorit në një telefon, pastaj "
        "fute sërish.",
        "The SIM is locked: unlock it with the operator's PUK in a phone, then put it back.",
    ),
    "ops.advice.no_sim": ("Fut SIM-in (me stikun të fikur) dhe provo sërish.",
                          "Insert the SIM (stick unplugged) and try again."),
    "ops.advice.sim_changed": (
        "Një SIM e ndërruar është ngjarje sigurie: verifiko me stafin e degës kush e ndërroi "
        "dhe pse; njofto bankën nëse askush nuk e di.",
        "A swapped SIM is a security event: confirm with branch staff who changed it and why; "
        "tell the bank if nobody knows.",
    ),
    "ops.advice.roaming": (
        "SIM është në roaming: kontrollo që është SIM e Kosovës dhe operatori i duhur.",
        "The SIM is roaming: check it is a Kosovo SIM of the right operator.",
    ),
    "ops.advice.reg_denied": (
        "Operatori e refuzon SIM-in: telefono operatorin (SIM e paaktivizuar, e bllokuar "
        "ose pa kredi).",
        "The operator refuses the SIM: call the operator (SIM not activated, barred or "
        "out of credit).",
    ),
    "ops.advice.reg_none": (
        "Nuk gjen rrjet: kontrollo antenën dhe mbulimin; prit një minutë pas ndezjes.",
        "No network found: check the antenna and coverage; allow a minute after power-up.",
    ),
    "ops.advice.storage_full": (
        "Daemoni i fshin mesazhet pasi i ruan: nëse memoria mbushet, daemoni nuk punon ose "
        "nuk arrin t'i fshijë; shih `journalctl -u appliance`.",
        "The daemon deletes messages once stored: a full storage means it is not running or "
        "cannot delete; see `journalctl -u appliance`.",
    ),
    "ops.advice.smsc": (
        "Vendos numrin e qendrës SMS të operatorit: AT+CSCA=\"+383...\" (e jep operatori).",
        "Set the operator's SMS centre: AT+CSCA=\"+383...\" (the operator gives the number).",
    ),
    "ops.advice.snapshot_stale": (
        "Daemoni mund të jetë bllokuar: `systemctl status appliance`; watchdog-u e rinis.",
        "The daemon may be stuck: `systemctl status appliance`; its watchdog restarts it.",
    ),
    "ops.advice.daemon_starting": (
        "Daemoni sapo nisi: prit 15 sekonda dhe provo sërish doctor.",
        "The daemon has just started: wait 15 seconds and run doctor again.",
    ),
    "ops.advice.db_open": (
        "Kontrollo shtegun `database`, të drejtat (përdoruesi appliance) dhe hapësirën.",
        "Check the `database` path, its permissions (user appliance) and free space.",
    ),
    "ops.advice.db_restore": (
        "Ndale shërbimin dhe rikthe kopjen e fundit nga /var/lib/appliance/backups/ "
        "(docs/operations.md).",
        "Stop the service and restore the latest copy from /var/lib/appliance/backups/ "
        "(docs/operations.md).",
    ),
    "ops.advice.db_missing": (
        "Daemoni e krijon në nisjen e parë: `systemctl start appliance`.",
        "The daemon creates it at its first start: `systemctl start appliance`.",
    ),
    "ops.advice.db_wal": (
        "Hape një herë me daemonin (e vendos WAL vetë); mos e mbaj databazën në NFS.",
        "Start the daemon once (it sets WAL itself); never keep the database on NFS.",
    ),
    "ops.advice.disk": (
        "Liro hapësirë: `journalctl --vacuum-size=100M`, kopjet e vjetra te backups/.",
        "Free space: `journalctl --vacuum-size=100M`, old copies in backups/.",
    ),
    "ops.advice.bank_unreachable": (
        "Kontrollo rrjetin, DNS, firewall-in dhe `bank.url`; provo `curl -v {url}`.",
        "Check network, DNS, firewall and `bank.url`; try `curl -v {url}`.",
    ),
    "ops.advice.bank_down": (
        "Banka përgjigjet me gabim: njofto IT-në e bankës. Bilancet jepen nga të dhënat "
        "e fundit.",
        "The bank answers with an error: tell the bank's IT. Balances are answered from the "
        "last synced data meanwhile.",
    ),
    "ops.advice.token": (
        "Vendos tokenin e ri te /etc/appliance/credentials/bank-token (chmod 600) dhe "
        "`systemctl restart appliance`.",
        "Put the current token in /etc/appliance/credentials/bank-token (chmod 600) and "
        "`systemctl restart appliance`.",
    ),
    "ops.advice.daemon_stopped": (
        "Niseni: `systemctl enable --now appliance` (me dorë: `appliance run --config "
        "FILE`); nëse ndalet sërish: `journalctl -u appliance`.",
        "Start it: `systemctl enable --now appliance` (by hand: `appliance run --config "
        "FILE`); if it stops again: `journalctl -u appliance`.",
    ),
    "ops.advice.files_dir": (
        "`chmod 700 {dir}` (dhe backups/ aty), ose rinisni daemonin: i ngushton vetë kur "
        "niset.",
        "`chmod 700 {dir}` (and backups/ in it), or restart the daemon: it tightens them "
        "itself at start.",
    ),
    "ops.advice.files_data": (
        "`chmod 600` skedarët e emërtuar, ose rinisni daemonin: i ngushton vetë kur niset.",
        "`chmod 600` the files named, or restart the daemon: it tightens them itself at "
        "start.",
    ),
    "ops.advice.files_token": (
        "`chmod 600 {path}` (skedari i root-it; systemd ia jep shërbimit).",
        "`chmod 600 {path}` (root's file; systemd hands it to the service).",
    ),
    "ops.advice.clock": (
        "Sinkronizo orën: `timedatectl set-ntp true`; kontrollo `timedatectl status`.",
        "Synchronise the clock: `timedatectl set-ntp true`; check `timedatectl status`.",
    ),
    # --- status ------------------------------------------------------------------------
    "ops.status.title": ("appliance status — {now}", "appliance status — {now}"),
    "ops.status.inbox": ("Hyrëse", "Inbox"),
    "ops.status.outbox": ("Dalëse", "Outbox"),
    "ops.status.orders": ("Porositë (mbushje)", "Orders (top-ups)"),
    "ops.status.requests": ("Kërkesat te banka (NDAL, SQ, BLLOKO)",
                            "Bank requests (STOP, SQ, BLOCK)"),
    "ops.status.oldest": ("më e vjetra në pritje: {age}", "oldest waiting: {age}"),
    "ops.status.sync": ("Sinkronizimi i fundit me bankën: {when} ({age} më parë)",
                        "Last bank sync: {when} ({age} ago)"),
    "ops.status.sync_never": ("Sinkronizimi me bankën: asnjëherë", "Last bank sync: never"),
    "ops.status.today": ("Sot: {received} të marra, {sent} të dërguara",
                         "Today: {received} received, {sent} sent"),
    "ops.status.guards": ("Mbrojtjet: {held} marrëveshje me SIM të ndërruar (pa mbushje), "
                          "{limited} mesazhe sot mbi kufirin e dërguesit",
                          "Guards: {held} agreement(s) on SIM-swap hold (no money), "
                          "{limited} message(s) today over the sender rate limit"),
    "ops.status.modems": ("Modemet", "Modems"),
    "ops.status.daemon_running": ("Daemoni: në punë (pid {pid}), të dhëna {age} s më parë",
                                  "Daemon: running (pid {pid}), facts {age} s old"),
    "ops.status.daemon_stopped": ("Daemoni: nuk punon", "Daemon: not running"),
    "ops.status.modem_unknown": ("pa të dhëna", "no facts"),
    "ops.status.healthy": ("në shërbim", "in service"),
    "ops.status.unhealthy": ("jashtë shërbimit", "out of service"),
    "ops.status.col.state": ("Gjendja", "State"),
    "ops.status.col.count": ("Numri", "Count"),
    "ops.status.col.modem": ("Modemi", "Modem"),
    "ops.status.col.health": ("Shëndeti", "Health"),
    "ops.status.col.signal": ("Sinjali", "Signal"),
    "ops.status.col.network": ("Rrjeti", "Network"),
    "ops.status.col.storage": ("Memoria", "Storage"),
    "ops.status.col.seen": ("Parë", "Seen"),
    # --- backup ------------------------------------------------------------------------
    "ops.backup.done": ("Kopja: {path} ({size} bajt, integriteti ok); u fshinë {removed} "
                        "kopje të vjetra.",
                        "Backup: {path} ({size} bytes, integrity ok); removed {removed} "
                        "old copies."),
    "ops.backup.no_db": ("appliance: backup: databaza {path} nuk ekziston",
                         "appliance: backup: database {path} does not exist"),
    "ops.backup.no_pg_tool": ("appliance: backup: {tool} nuk gjendet: instaloni "
                              "postgresql-client (versionin e serverit) ose jepni "
                              "APPLIANCE_PG_BIN",
                              "appliance: backup: {tool} not found: install postgresql-client "
                              "(the server's major version) or set APPLIANCE_PG_BIN"),
    "ops.backup.failed": ("appliance: backup dështoi: {error}",
                          "appliance: backup failed: {error}"),
    "ops.error.database": ("appliance: databaza nuk hapet: {error}",
                           "appliance: cannot open the database: {error}"),
}
