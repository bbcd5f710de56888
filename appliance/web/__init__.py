"""Seeing the box: Prometheus metrics and a read-only status page on one loopback listener.

`serve(listen, settings_or_db_path)` starts it; `appliance.web.events` holds the counters
the flows bump as things happen; docs/metrics.md lists every metric.
"""

from appliance.web.server import DEFAULT_LISTEN, WebServer, serve

__all__ = ["DEFAULT_LISTEN", "WebServer", "serve"]
