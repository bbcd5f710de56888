"""Faults a tester arms, as data: which armed fault applies to a command line, and the
final result an error fault gives. Arming them (with their instant effects on the
network) is `Arrivals.fault`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from appliance.fakemodem.errors import CmeError, CmsError, PlainError
from appliance.fakemodem.model import Fault, FaultKind, FaultParam

FAULT_KINDS = tuple(k.value for k in FaultKind)
# Faults that change the answer of the next matching command line.
PER_COMMAND = frozenset({FaultKind.NO_ANSWER, FaultKind.ERROR, FaultKind.CMS_ERROR,
                         FaultKind.CME_ERROR, FaultKind.LATE, FaultKind.NON_UTF8})
ERRORS = frozenset({FaultKind.ERROR, FaultKind.CMS_ERROR, FaultKind.CME_ERROR})


class FaultArgs(TypedDict, total=False):
    """The keyword parameters of `Arrivals.fault` (their defaults live there)."""

    count: int
    match: str | None
    code: int | None
    delay: float
    storage: str
    value: int | None


def fault_args(params: Mapping[str, FaultParam]) -> FaultArgs:
    """Parameters as the control socket carries them -> `Arrivals.fault`'s keywords;
    ValueError naming an unknown or mistyped one."""
    unknown = set(params) - set(FaultArgs.__annotations__)
    if unknown:
        raise ValueError(f"unknown fault parameter(s): {', '.join(sorted(unknown))}")
    args = FaultArgs()
    if "count" in params:
        args["count"] = int(_number("count", params["count"]))
    if "match" in params:
        args["match"] = None if params["match"] is None else str(params["match"])
    if "code" in params:
        args["code"] = _whole_or_none("code", params["code"])
    if "delay" in params:
        args["delay"] = _number("delay", params["delay"])
    if "storage" in params:
        args["storage"] = str(params["storage"])
    if "value" in params:
        args["value"] = _whole_or_none("value", params["value"])
    return args


def _number(name: str, value: FaultParam) -> float:
    if isinstance(value, str) or value is None:
        raise ValueError(f"fault parameter {name} must be a number, not {value!r}")
    return value


def _whole_or_none(name: str, value: FaultParam) -> int | None:
    return None if value is None else int(_number(name, value))


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
