"""Faults a tester arms, as data: which armed fault applies to a command line, and the
final result an error fault gives. Arming them (with their instant effects on the
network) is `Arrivals.fault`."""

from __future__ import annotations

from appliance.fakemodem.errors import CmeError, CmsError, PlainError
from appliance.fakemodem.model import Fault, FaultKind

FAULT_KINDS = tuple(k.value for k in FaultKind)
# Faults that change the answer of the next matching command line.
PER_COMMAND = frozenset({FaultKind.NO_ANSWER, FaultKind.ERROR, FaultKind.CMS_ERROR,
                         FaultKind.CME_ERROR, FaultKind.LATE, FaultKind.NON_UTF8})
ERRORS = frozenset({FaultKind.ERROR, FaultKind.CMS_ERROR, FaultKind.CME_ERROR})


def parse_kind(kind: str) -> FaultKind:
    """`cms_error`, `CMS-ERROR`... -> FaultKind; ValueError naming the known kinds."""
    try:
        return FaultKind(kind.replace("_", "-").lower())
    except ValueError:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}") from None


def _use(faults: list[Fault], fault: Fault) -> Fault:
    """Count one use of an armed fault down (disarming it at zero)."""
    fault.count -= 1
    if fault.count <= 0:
        faults.remove(fault)
    return fault


def take_fault(faults: list[Fault], names: list[str], *, at_submit: bool) -> Fault | None:
    """The first armed per-command fault for this line (counted down), if any. A fault
    matching `+CMGS` acts on the message after the prompt (`at_submit`), not the line."""
    for f in faults:
        if f.kind not in PER_COMMAND:
            continue
        submit_fault = f.match is not None and f.match.upper().removeprefix(
            "AT").startswith("+CMGS")
        if submit_fault == at_submit and f.matches(names):
            return _use(faults, f)
    return None


def take_inject(faults: list[Fault], names: list[str]) -> bool:
    """Whether a cmti-inside-answer fault takes this answer (counted down)."""
    for f in faults:
        if f.kind == FaultKind.CMTI_INSIDE_ANSWER and f.matches(names):
            _use(faults, f)
            return True
    return False


def armed(faults: list[Fault], kind: FaultKind) -> Fault | None:
    """The first armed fault of this kind."""
    return next((f for f in faults if f.kind == kind), None)


def fault_error(fault: Fault) -> Exception:
    """The final result an error fault answers with."""
    if fault.kind == FaultKind.CMS_ERROR:
        return CmsError(fault.code or 500)
    if fault.kind == FaultKind.CME_ERROR:
        return CmeError(fault.code or 100)
    return PlainError()
