"""The web listener as the running box serves it (issue 15 wiring): `appliance demo` in a
subprocess exposes metrics_url and status_url in demo.json; an SMS delivered through the
fake modem shows in /metrics and on the status page in a real headless Chromium (the
screenshot is kept, its path printed); a listen address in use stops `appliance run`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.conftest import _ACCOUNT_RE, _PHONE_RE, Fakes
from tests.helpers import wait_for
from tests.test_e2e_demo import CLI, _cli
from tests.test_web_page import browser

__all__ = ["browser"]  # the fixture, imported for use here


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode("utf-8"))


def _value(metrics: str, line_start: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_demo_serves_metrics_and_the_status_page(tmp_path: Path,
                                                 browser: webdriver.Chrome) -> None:
    state = tmp_path / "state"
    out = (tmp_path / "demo.out").open("wb")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "APPLIANCE_LANG")}
    proc = subprocess.Popen([*CLI, "demo", "--state-dir", str(state)], stdout=out,
                            stderr=subprocess.STDOUT, env=env)
    out.close()
    try:
        wait_for((state / "demo.json").exists, timeout=60, what="demo.json")
        info = json.loads((state / "demo.json").read_text(encoding="utf-8"))
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", info["metrics_url"])
        assert info["status_url"] == info["metrics_url"].removesuffix("metrics")
        wait_for(lambda: "Ctrl+C" in (tmp_path / "demo.out").read_text(encoding="utf-8"),
                 timeout=10, what="the banner")
        banner = (tmp_path / "demo.out").read_text(encoding="utf-8")
        assert info["status_url"] in banner
        assert info["metrics_url"] in banner

        browser.get(info["status_url"])
        assert browser.title == "appliance: status"
        assert "fake" in browser.find_element(By.ID, "modems").text
        before = browser.find_element(By.ID, "received").text

        phone = info["phones"][0]
        sent = _cli("fake-modem", "deliver", "--state-dir", str(state), "--from", phone, "B")
        assert sent.returncode == 0, sent.stderr

        def replied() -> str | None:
            text = _get(info["metrics_url"])
            return text if _value(text, 'appliance_sms_sent_total{kind="reply"}') >= 1 else None
        metrics = wait_for(replied, timeout=30, what="the reply counted in /metrics")
        assert _value(metrics, "appliance_inbound_total") >= 1
        assert _value(metrics, "appliance_reply_latency_seconds_count") >= 1
        # Values are counts and Unix times; labels and help texts must hold no number.
        words = " ".join(re.findall(r"\{[^}]*\}", metrics) + re.findall(r"^#.*$", metrics,
                                                                        re.MULTILINE))
        assert "fake" in words  # the modem's label: the check sees labels
        for rx in (_PHONE_RE, _ACCOUNT_RE):
            hit = rx.search(words)
            assert hit is None, f"a number in /metrics: {hit.group()!r}"

        browser.refresh()
        wait_for(lambda: browser.find_element(By.ID, "received").text != before, timeout=10,
                 what="the new SMS on the page")
        # The page shows a modem's state from the daemon's health snapshot (health.json).
        wait_for((state / "health.json").exists, timeout=20, what="health.json")
        browser.refresh()
        modems = browser.find_element(By.ID, "modems").text
        assert "fake" in modems
        assert "up" in modems, modems
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
        shot = tmp_path / "demo-status-page.png"
        assert browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"\ndemo status page screenshot: {shot}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0


def test_run_refuses_to_start_when_the_listen_address_is_taken(fakes: Fakes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = fakes.config(http={"listen": f"127.0.0.1:{port}"})
        env = {**os.environ, "APPLIANCE_LANG": "en"}
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.run([*CLI, "run", "--config", str(config)], capture_output=True,
                              text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 1
    assert f"http.listen: cannot listen on 127.0.0.1:{port}" in proc.stderr
