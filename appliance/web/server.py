"""One loopback HTTP listener: `GET /metrics` (Prometheus text) and `GET /` (status page).

`serve(listen, source)` starts it on a daemon thread and returns the running server; the
daemon calls it once at start and `close()` at stop. It reads the database the process
has bound (the daemon's own) when that is the same file, else opens it without migrating.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import peewee
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from appliance.config.schema import DEFAULT_HTTP_LISTEN
from appliance.ops.snapshot import read_snapshot, snapshot_path
from appliance.store.db import open_database
from appliance.store.models import database as bound
from appliance.web import events
from appliance.web.collector import StoreCollector
from appliance.web.page import render, signal_svg
from appliance.web.readings import Readings, read
from appliance.web.signal import HISTORY, SignalHistory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from appliance.config import Settings

log = logging.getLogger(__name__)

DEFAULT_LISTEN = DEFAULT_HTTP_LISTEN  # the config schema holds it
SAMPLE_SECONDS = 60.0
_SECURITY_HEADERS = {
    # Nothing loads from anywhere; the page needs only its own inline CSS.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:9333` or `[::1]:9333` -> (host, port); port 0 picks a free one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Scrapes every few seconds would flood the journal: no access log."""


class WebServer:
    """The running listener; `url`, `metrics_url`, `status_url`; `close()` stops it."""

    def __init__(self, httpd: BaseWSGIServer, sampler: threading.Thread,
                 stop: threading.Event) -> None:
        self._httpd = httpd
        self._sampler = sampler
        self._stop = stop
        raw = httpd.server_address[0]
        host = raw.decode() if isinstance(raw, bytes) else str(raw)
        shown = f"[{host}]" if ":" in host else host
        self.port = int(httpd.server_address[1])
        self.url = f"http://{shown}:{self.port}"
        self.metrics_url = f"{self.url}/metrics"
        self.status_url = f"{self.url}/"
        self._thread = threading.Thread(target=httpd.serve_forever, name="web",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    def start(self) -> WebServer:
        self._thread.start()
        self._sampler.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self._sampler.join(5)


class _Site:
    """The WSGI application: reads the store per request, renders metrics or the page."""

    def __init__(self, db_path: Path, modem_names: list[str], tz: ZoneInfo,
                 history: SignalHistory, db_url: str | None = None) -> None:
        self.db_path = db_path
        self.modem_names = modem_names
        self.tz = tz
        self.history = history
        self.db = self._database(db_path, db_url)
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(self.readings))
        for metric in events.ALL:
            self.registry.register(metric)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    @staticmethod
    def _database(path: Path, url: str | None) -> peewee.Database:
        # The daemon's own database when it is bound already (the same file or URL).
        current = bound.obj
        if url is not None:
            if isinstance(current, peewee.PostgresqlDatabase) and current.database == url:
                return current
            return open_database(url, apply_migrations=False)
        if isinstance(current, peewee.SqliteDatabase) and \
                Path(current.database).resolve() == path.resolve():
            return current
        return open_database(path, apply_migrations=False)

    def sample(self) -> None:
        snap = read_snapshot(snapshot_path(self.db_path))
        if snap is not None:
            self.history.record_all((m.name, m.signal_dbm, m.checked_at)
                                    for m in snap.modems.values())

    def readings(self) -> Readings:
        self.sample()
        with self.db.connection_context():
            return read(self.db_path, datetime.now(UTC), self.modem_names)

    def _page(self) -> Response:
        try:
            r = self.readings()
        except Exception:  # locked, missing or not yet migrated: say so, keep serving
            log.exception("status page: cannot read the store")
            return Response("cannot read the database (see the daemon's log)\n", status=503)
        charts = {m.name: signal_svg(self.history.series(m.name, r.now), r.now)
                  for m in r.modems}
        return Response(render(r, charts, self.tz), content_type="text/html; charset=utf-8")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            response = Response("read-only\n", status=405, headers={"Allow": "GET, HEAD"})
        elif request.path == "/metrics":
            # The text format Prometheus asks for (Accept), the classic 0.0.4 by default.
            encode, content_type = choose_encoder(request.headers.get("Accept", ""))
            response = Response(encode(self.registry), content_type=content_type)
        elif request.path == "/":
            response = self._page()
        else:
            response = Response("not found\n", status=404)
        response.headers.update(_SECURITY_HEADERS)
        return response(environ, start_response)


def serve(listen: str, source: Settings | Path | str, *, history: SignalHistory | None = None,
          sample_seconds: float = SAMPLE_SECONDS) -> WebServer:
    """Start the metrics and status listener on `listen` (a thread); returns the server.

    `source` is the daemon's `Settings` (database, modem names, time zone) or the path of
    a database file. The signal history is sampled from the health snapshot every
    `sample_seconds` and on every request.
    """
    if isinstance(source, str | Path):
        db_path, names, tz = Path(source), [], ZoneInfo("UTC")
    else:
        db_path = Path(source.database)
        names = [m.name for m in source.modems]
        tz = ZoneInfo(source.rules.timezone)
    url = None if isinstance(source, str | Path) else source.database_url
    site = _Site(db_path, names, tz, HISTORY if history is None else history, url)
    host, port = parse_listen(listen)
    # Bound here, not by werkzeug: it prints and exits the process when the address is in
    # use; an OSError lets the daemon say which key to change.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        httpd = make_server(host, port, site, threaded=True, request_handler=_QuietHandler,
                            fd=sock.fileno())  # werkzeug takes a duplicate of it
    stop = threading.Event()

    def sample_loop() -> None:
        while not stop.wait(sample_seconds):
            try:
                site.sample()
            except Exception:  # a half-written snapshot must not end the sampling
                log.warning("web: cannot sample the health snapshot", exc_info=True)

    sampler = threading.Thread(target=sample_loop, name="web-signal", daemon=True)
    return WebServer(httpd, sampler, stop).start()
