"""Invariant 7 in the logs: the masking filter itself rewrites the record (found missing by
mutation testing: with the filter a no-op, the formatter's second pass hid it from every
other test). The filter is what protects a handler that has no masking formatter of its
own and runs after ours (an operator's syslog handler, say): it sees the masked record."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from appliance.logs import MaskingFilter, masking_handler
from tests.conftest import assert_logs_masked

PHONE = "+38344123456"
ACCOUNT = "1110000100012345"


def test_a_plain_handler_after_ours_gets_the_masked_record(
        tmp_path: Path, logger: logging.Logger) -> None:
    ours = tmp_path / "appliance.log"
    theirs = tmp_path / "syslog.log"
    logger.addHandler(masking_handler(logging.FileHandler(ours, encoding="utf-8")))
    plain = logging.FileHandler(theirs, encoding="utf-8")
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(plain)
    logger.info("reply to %s for account %s", PHONE, ACCOUNT)
    logger.warning("raw 044 123 456 and 00383 49 234 567")
    for path in (ours, theirs):
        text = path.read_text(encoding="utf-8")
        assert "56" in text  # the last digits stay
        assert assert_logs_masked(path) == 2


def test_the_filter_alone_masks_message_and_arguments() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))  # no masking formatter
    handler.addFilter(MaskingFilter())
    log = logging.getLogger(f"test.invariants.filter.{id(stream)}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("to %s, account %s, %d%%", PHONE, ACCOUNT, 5)
        log.info("bad %-format %s")  # no arguments: the line is kept, still masked
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "to +383 44 *** *56, account ************2345, 5%"
    assert lines[1] == "bad %-format %s"
