"""The status page: one server-rendered HTML document, inline CSS and SVG, no JavaScript.

Everything it needs is in the document (no fonts, scripts or images from anywhere), so it
works on a box without internet and under a strict Content-Security-Policy. Phone numbers
and error texts arrive masked from `readings`; every text is HTML-escaped here.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from appliance.ops.status import human_age
from appliance.web.readings import HourTraffic, ModemReading, Readings
from appliance.web.signal import WINDOW

REFRESH_SECONDS = 30
# The chart's dBm range: -113 is the weakest AT+CSQ reports, -51 the strongest.
DBM_MIN, DBM_MAX, DBM_WEAK = -113, -51, -95

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left}th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#176617;font-weight:bold}.bad{color:#b00;font-weight:bold}.muted{color:#777}
svg{background:#fff;border:1px solid #ccc;vertical-align:middle}
""".strip()


def _age(seconds: float | None) -> str:
    return human_age(None if seconds is None else int(seconds))


def _local(ts: datetime | None, tz: ZoneInfo) -> str:
    return "-" if ts is None else ts.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def signal_svg(series: list[tuple[datetime, int]], now: datetime, width: int = 240,
               height: int = 48) -> str:
    """A small line chart of (time, dBm) over the last 24 h, as inline SVG."""
    start = now - WINDOW
    span = WINDOW.total_seconds()

    def x(ts: datetime) -> float:
        return round((ts - start).total_seconds() / span * width, 1)

    def y(dbm: int) -> float:
        clamped = min(max(dbm, DBM_MIN), DBM_MAX)
        return round(height - (clamped - DBM_MIN) / (DBM_MAX - DBM_MIN) * height, 1)

    parts = [f'<svg class="signal" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="signal over the last 24 hours">',
             f'<line x1="0" x2="{width}" y1="{y(DBM_WEAK)}" y2="{y(DBM_WEAK)}" '
             'stroke="#e0a0a0" stroke-dasharray="3,3"/>']
    if series:
        points = " ".join(f"{x(t)},{y(d)}" for t, d in series)
        parts.append(f'<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" '
                     f'points="{points}"/>')
        t, d = series[-1]
        parts.append(f'<circle cx="{x(t)}" cy="{y(d)}" r="2.5" fill="#1f5fa8"/>')
    else:
        parts.append(f'<text x="6" y="{height // 2 + 4}" fill="#777" font-size="11">'
                     'no samples yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def traffic_svg(hours: list[HourTraffic], tz: ZoneInfo, width: int = 480,
                height: int = 80) -> str:
    """Bars per hour: received (grey) and sent (blue), each hour's counts in its title."""
    top = max([1] + [max(h.received, h.sent) for h in hours])
    slot = width / max(1, len(hours))
    bar = max(1.0, slot / 2 - 1)
    parts = [f'<svg class="traffic" width="{width}" height="{height + 14}" '
             f'viewBox="0 0 {width} {height + 14}" role="img" '
             'aria-label="SMS per hour, last 24 hours">']
    for i, h in enumerate(hours):
        label = h.start.astimezone(tz).strftime("%H:00")
        x0 = round(i * slot, 1)
        for j, (count, colour) in enumerate(((h.received, "#999"), (h.sent, "#1f5fa8"))):
            bh = round(count / top * height, 1)
            parts.append(f'<rect x="{round(x0 + j * bar, 1)}" y="{round(height - bh, 1)}" '
                         f'width="{round(bar, 1)}" height="{bh}" fill="{colour}">'
                         f"<title>{label}: {h.received} in, {h.sent} out</title></rect>")
        if i % 6 == 0:
            parts.append(f'<text x="{x0}" y="{height + 12}" font-size="10" fill="#555">'
                         f"{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _modem_row(m: ModemReading, chart: str, tz: ZoneInfo) -> str:
    state = '<span class="ok">up</span>' if m.up else '<span class="bad">down</span>'
    signal = "-" if m.signal_dbm is None else f"{m.signal_dbm} dBm"
    storage = ("-" if m.storage_used is None or m.storage_total is None
               else f"{m.storage_used}/{m.storage_total}")
    return (f'<tr class="modem"><td>{escape(m.name)}</td><td>{state}</td>'
            f"<td>{escape(m.operator or '-')}</td><td>{escape(m.registration or '-')}</td>"
            f'<td class="n">{signal}</td><td>{chart}</td><td class="n">{storage}</td>'
            f"<td>{_local(m.checked_at, tz)}</td></tr>")


def _counts(title: str, values: dict[str, int]) -> str:
    head = "".join(f"<th>{escape(k)}</th>" for k in values)
    cells = "".join(f'<td class="n">{v}</td>' for v in values.values())
    return f"<table><caption>{escape(title)}</caption><tr>{head}</tr><tr>{cells}</tr></table>"


def render(r: Readings, charts: dict[str, str], tz: ZoneInfo, box: str = "appliance") -> str:
    """The whole page for one reading; `charts` maps a modem name to its signal SVG."""
    modems = "".join(_modem_row(m, charts.get(m.name, ""), tz) for m in r.modems) or (
        '<tr><td colspan="8" class="muted">no modem known yet</td></tr>')
    sync_class = "ok" if r.sync_age_seconds is not None and r.sync_age_seconds < 900 else "bad"
    topups = "".join(
        f"<tr><td>{_local(t.created_at, tz)}</td><td>{escape(t.operator)}</td>"
        f"<td>{escape(t.target)}</td><td class=\"n\">{t.amount:.2f}</td>"
        f"<td>{escape(t.state)}</td><td>{escape(t.reason or '')}</td></tr>" for t in r.topups
    ) or '<tr><td colspan="6" class="muted">none</td></tr>'
    errors = "".join(
        f"<tr><td>{_local(e.at, tz)}</td><td>{escape(e.source)}</td><td>{escape(e.text)}</td>"
        "</tr>" for e in r.errors) or '<tr><td colspan="3" class="muted">none</td></tr>'
    received = sum(h.received for h in r.traffic)
    sent = sum(h.sent for h in r.traffic)
    daemon = ('<span class="ok">running</span>' if r.daemon_running
              else '<span class="bad">not running</span>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{escape(box)}: status</title><style>{_CSS}</style></head>
<body>
<h1>{escape(box)}: status</h1>
<p class="muted">{_local(r.now, tz)} ({escape(str(tz))}); daemon {daemon};
health snapshot {_age(r.snapshot_age_seconds)} old; refreshes every {REFRESH_SECONDS}s.
Read-only. <a href="/metrics">metrics</a></p>
<h2>Modems</h2>
<table id="modems"><tr><th>modem</th><th>state</th><th>operator</th><th>network</th>
<th>signal</th><th>last 24 h</th><th>storage</th><th>checked</th></tr>{modems}</table>
<h2>Queues</h2>
<div id="queues">{_counts("queued by priority", r.queued_by_priority)}
<p>oldest queued: {_age(r.oldest_queued_seconds)}; due now: {r.outbox_due}</p>
{_counts("outbox by state", r.outbox)}
{_counts("inbound by state", r.inbound)}
<p>oldest undecided inbound: {_age(r.oldest_pending_seconds)}</p></div>
<h2>Traffic per hour</h2>
<p id="traffic">last 24 h: <span id="received">{received}</span> received,
<span id="sent">{sent}</span> sent</p>
{traffic_svg(r.traffic, tz)}
<h2>Bank sync</h2>
<p id="sync">last sync <span class="{sync_class}">{_age(r.sync_age_seconds)}</span> ago
({_local(r.last_sync, tz)})</p>
<h2>Top-ups</h2>
{_counts("orders by status", r.topup_orders)}
<table id="topups"><tr><th>when</th><th>operator</th><th>number</th><th>amount</th>
<th>status</th><th>reason</th></tr>{topups}</table>
<h2>Recent errors</h2>
<table id="errors"><tr><th>when</th><th>where</th><th>what</th></tr>{errors}</table>
</body></html>
"""
