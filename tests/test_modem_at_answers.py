"""Pure readers of AT answers and notices (`modem.at_answers`), and the one place that
may call the untyped gsmmodem library."""

from __future__ import annotations

import pytest

from appliance.modem.at_answers import (
    answer_value,
    cds_length,
    first_quoted,
    is_restart_notice,
    new_message_slot,
    numbers,
    offered_storages,
    parse_cmgs,
    parse_creg,
)
from appliance.modem.at_protocol import Notice
from appliance.modem.types import Registration
from tests.test_architecture import PACKAGE, imports_of


@pytest.mark.parametrize(("line", "slot"), [
    ('+CMTI: "SM",3', ("SM", 3)),
    ("+CMTI: me, 12", ("ME", 12)),
    ('+CDSI: "SR",0', ("SR", 0)),
    ('+CMTI: "SM"', None),
    ("+CREG: 1", None),
])
def test_new_message_slot(line: str, slot: tuple[str, int] | None) -> None:
    assert new_message_slot(line) == slot


def test_cds_length_with_and_without_alpha() -> None:
    assert cds_length("+CDS: 25") == 25
    assert cds_length('+CDS: "x",25') == 25
    assert cds_length("+CDS: ") is None


def test_values_numbers_and_quotes() -> None:
    assert answer_value(["+CSQ: 20,99"], "+CSQ") == "20,99"
    assert answer_value(["860000000000001"], "+CGSN") == "860000000000001"
    assert answer_value([], "+CGSN") == ""
    assert numbers("20,99") == [20, 99]
    assert first_quoted('0,0,"Vala 900",2') == "Vala 900"
    assert first_quoted('0,0,""') is None
    assert first_quoted("0") is None


def test_offered_storages() -> None:
    assert offered_storages('("SM","ME","SR"),("SM","ME"),("SM","ME")') == ("SM", "ME")
    assert offered_storages('("ME"),("ME"),("ME")') == ("ME",)
    assert offered_storages('("MT"),("MT"),("MT")') == ("MT",)
    assert offered_storages("") == ("SM",)


def test_registration_and_cmgs() -> None:
    assert parse_creg("0,5") == Registration(status=5, registered=True, roaming=True)
    assert parse_creg("2") == Registration(status=2, registered=False, roaming=False)
    assert parse_creg("0,x") is None
    assert parse_cmgs(["+CMGS: 17"]) == 17
    assert parse_cmgs([]) == -1


def test_restart_notices() -> None:
    assert is_restart_notice(Notice("RDY"))
    assert is_restart_notice(Notice("+CPIN: READY"))
    assert not is_restart_notice(Notice("+CPIN: SIM PIN"))
    assert not is_restart_notice(Notice('+CMTI: "SM",1'))


def test_only_the_facade_imports_gsmmodem() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if any(n.split(".")[0] == "gsmmodem" for n in imports_of(p)))
    assert users == ["modem/gsmlib.py"]
