"""Logging through appliance.logs: every line, tracebacks included, is masked (I7); the
e2e log grep (`assert_logs_masked`) does catch an unmasked number."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from appliance.logs import masking_handler, setup_logging
from tests.conftest import assert_logs_masked


def test_masking_handler_masks_arguments_messages_and_tracebacks(
        tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "masked.log"
    logger.addHandler(masking_handler(logging.FileHandler(path, encoding="utf-8")))
    logger.info("reply to %s for account %s", "+38344123456", "1110000100012345")
    logger.warning("raw text 044 123 456 and 0038349234567")
    try:
        raise ValueError("bad number 38345345678")
    except ValueError:
        logger.exception("while handling %s", "+38349234567")
    text = path.read_text(encoding="utf-8")
    assert "*56" in text  # the last digits stay, to tell numbers apart
    assert "2345" in text
    assert assert_logs_masked(path) >= 4


def test_the_grep_catches_an_unmasked_number(tmp_path: Path,
                                            logger: logging.Logger) -> None:
    path = tmp_path / "plain.log"
    logger.addHandler(logging.FileHandler(path, encoding="utf-8"))  # no masking
    logger.info("reply to %s", "+38344123456")
    with pytest.raises(AssertionError, match="unmasked number"):
        assert_logs_masked(path)
    path.write_text("account 1110000100012345\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="unmasked number"):
        assert_logs_masked(path)


def test_setup_logging_replaces_its_own_handlers(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = [h for h in root.handlers if not getattr(h, "_appliance", False)]
    level = root.level
    try:
        setup_logging("DEBUG", file=tmp_path / "a.log")
        setup_logging("INFO", file=tmp_path / "b.log")
        ours = [h for h in root.handlers if getattr(h, "_appliance", False)]
        assert len(ours) == 2  # stderr + b.log, a.log's pair removed
        logging.getLogger("appliance.test").info("to %s", "+38344123456")
        assert "+383 44 *** *56" in (tmp_path / "b.log").read_text(encoding="utf-8")
        assert (tmp_path / "a.log").read_text(encoding="utf-8") == ""
    finally:
        for h in [h for h in root.handlers if getattr(h, "_appliance", False)]:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
    assert [h for h in root.handlers if not getattr(h, "_appliance", False)] == before
