"""Doctor's bank checks, and where doctor finds the secrets systemd hands the service.

Split from `doctor.py` (which re-exports both names): one plain request to the bank
(reachable, token accepted, clock skew) and the credential paths install.sh sets up.
"""

from __future__ import annotations

import contextlib
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from appliance.clitexts import t
from appliance.config import BankSettings
from appliance.ops import checks
from appliance.ops.checks import Check, Status, row

# Where install.sh keeps the secrets systemd hands to the service as credentials.
CREDENTIALS_RUN_DIR = Path("/run/credentials/appliance.service")
CREDENTIALS_STORE_DIR = Path("/etc/appliance/credentials")


def credential_path(path: Path, store: Path = CREDENTIALS_STORE_DIR,
                    run_dir: Path = CREDENTIALS_RUN_DIR) -> Path:
    """The file to read for a secret the config names by its systemd credential path.

    `/run/credentials/appliance.service/X` exists only while the service runs; doctor
    (often run before the first start) then reads the source install.sh set up:
    `bank-token` → /etc/appliance/credentials/bank-token, `sim-pin_NAME` →
    /etc/appliance/credentials/sim-pins/NAME.
    """
    if path.parent != run_dir:
        return path
    try:
        if path.exists():
            return path
    except OSError:  # not ours to look at: the service's credentials
        pass
    name = path.name
    if name.startswith("sim-pin_"):
        return store / "sim-pins" / name.removeprefix("sim-pin_")
    return store / name


def bank_checks(bank: BankSettings, now: datetime) -> list[Check]:
    """Reachable, token accepted, clock skew: one plain request, no retries."""
    reach_label = t("ops.label.bank_reach")
    token_label = t("ops.label.bank_token")
    token: str | None = None
    token_row: Check | None = None
    if bank.token_file is None:
        token_row = row("bank.token", token_label, Status.WARN, t("ops.token.none"),
                        t("ops.advice.token"))
    else:
        source = credential_path(bank.token_file)
        try:
            token = source.read_text(encoding="utf-8").strip()
            if not token:
                raise OSError("empty file")
        except OSError as exc:
            token = None
            token_row = row("bank.token", token_label, Status.FAIL,
                            t("ops.token.unreadable", path=source,
                              error=getattr(exc, "strerror", None) or exc),
                            t("ops.advice.token"))
    headers = {"Accept": "application/json", "User-Agent": "sms-appliance-doctor/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    verify: bool | ssl.SSLContext = True
    if bank.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(bank.ca_file))
    url = bank.url
    try:
        with httpx.Client(base_url=url, verify=verify, headers=headers, timeout=httpx.Timeout(
                bank.read_timeout, connect=bank.connect_timeout)) as client:
            response = client.get("/v1/changes", params={"limit": 1})
            received = datetime.now(UTC)
    except (httpx.HTTPError, OSError) as exc:
        error = str(exc) or type(exc).__name__
        return [
            row("bank.reachable", reach_label, Status.FAIL,
                t("ops.bank.unreachable", url=url, error=error),
                t("ops.advice.bank_unreachable", url=url)),
            token_row or row("bank.token", token_label, Status.WARN, t("ops.token.untested")),
            # No answer, so no Date header to blame: say the clock was not compared.
            row("bank.clock", t("ops.label.bank_clock"), Status.WARN, t("ops.clock.untested")),
        ]
    status = response.status_code
    out: list[Check] = []
    if status >= 500:
        out.append(row("bank.reachable", reach_label, Status.FAIL,
                       t("ops.bank.down", url=url, status=status), t("ops.advice.bank_down")))
        out.append(token_row or row("bank.token", token_label, Status.WARN,
                                    t("ops.token.untested")))
    else:
        out.append(row("bank.reachable", reach_label, Status.OK,
                       t("ops.bank.ok", url=url, status=status)))
        if token_row is not None:
            out.append(token_row)
        elif status in (401, 403):
            out.append(row("bank.token", token_label, Status.FAIL,
                           t("ops.token.refused", status=status), t("ops.advice.token")))
        else:
            out.append(row("bank.token", token_label, Status.OK, t("ops.token.ok")))
    skew: float | None = None
    date = response.headers.get("Date")
    if date:
        with contextlib.suppress(TypeError, ValueError):
            bank_time = parsedate_to_datetime(date)
            # The Date header has whole seconds: allow for that and for the request's time.
            skew = (received - bank_time).total_seconds() - 0.5
    out.append(checks.skew_verdict(skew))
    return out
