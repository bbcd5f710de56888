"""The sans-I/O AT protocol (`modem.at_protocol`): bytes in, events out, no thread.

The properties the field notes ask of the link (#1, #2, #3, #13): a notice falling
anywhere inside an answer is neither lost nor mixed into it, whatever the read splits;
garbage never kills the parser and never corrupts the well-formed answer that follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.modem.at_protocol import (
    MAX_LINE,
    AtProtocol,
    Dropped,
    Echo,
    Event,
    Final,
    Line,
    Notice,
    Prompt,
    Stray,
)

FINALS = ["OK", "ERROR", "+CME ERROR: 10", "+CMS ERROR: 321", "+CME ERROR: SIM not inserted",
          "NO CARRIER"]
hex_pdu = st.binary(min_size=1, max_size=40).map(lambda b: b.hex().upper())


@dataclass(frozen=True)
class Answer:
    command: str
    lines: list[str]
    final: str
    prompt: bool = False


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    kind = draw(st.sampled_from(["csq", "cmgl", "cpms", "cgmi", "ati", "cmgs"]))
    final = draw(st.sampled_from(FINALS))
    if kind == "csq":
        return Answer("AT+CSQ", [f"+CSQ: {draw(st.integers(0, 99))},99"], final)
    if kind == "cmgl":
        lines: list[str] = []
        for index in range(draw(st.integers(0, 4))):
            lines += [f"+CMGL: {index},1,,{draw(st.integers(1, 176))}", draw(hex_pdu)]
        return Answer("AT+CMGL=4", lines, final)
    if kind == "cpms":
        return Answer('AT+CPMS="SM"', ["+CPMS: 1,30,1,30,1,30"], final)
    if kind == "cgmi":
        return Answer("AT+CGMI", ["SIMCOM_Ltd"], final)
    if kind == "ati":
        return Answer("ATI", ["Quectel", "EC25", "Revision: EC25EFAR06A03M4G"], final)
    return Answer("AT+CMGS=23", [f"+CMGS: {draw(st.integers(0, 255))}"], final, prompt=True)


notices = st.one_of(
    st.integers(0, 49).map(lambda i: Notice(f'+CMTI: "SM",{i}')),
    st.integers(0, 49).map(lambda i: Notice(f'+CDSI: "SR",{i}')),
    st.integers(0, 5).map(lambda s: Notice(f"+CREG: {s}")),
    st.just(Notice("RING")),
    st.integers(0, 31).map(lambda r: Notice(f"^RSSI: {r}")),
    st.tuples(st.integers(6, 40), hex_pdu).map(lambda t: Notice(f"+CDS: {t[0]}", t[1])),
)


def wire(notice: Notice) -> bytes:
    text = f"\r\n{notice.line}\r\n" + (f"{notice.pdu}\r\n" if notice.pdu is not None else "")
    return text.encode()


def answer_units(answer: Answer, echo: bool) -> list[bytes]:
    """The answer as the modem writes it, in pieces a notice may fall between."""
    units = [f"{answer.command}\r".encode()] if echo else []
    if answer.prompt:
        units.append(b"\r\n> ")
    units += [f"\r\n{line}\r\n".encode() for line in answer.lines]
    units.append(f"\r\n{answer.final}\r\n".encode())
    return units


def feed(protocol: AtProtocol, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    start = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        events += protocol.receive(data[start:cut])
        start = cut
    return events


@settings(max_examples=400, deadline=None)
@given(answers(), st.booleans(), st.lists(st.tuples(notices, st.integers(0, 100)), max_size=6),
       st.lists(st.integers(0, 2000), max_size=12))
def test_notices_inside_answers_are_neither_lost_nor_mixed_in(
    answer: Answer, echo: bool, placed: list[tuple[Notice, int]], cuts: list[int]
) -> None:
    units = answer_units(answer, echo)
    slots: list[list[Notice]] = [[] for _ in range(len(units) + 1)]
    for notice, where in placed:
        slots[where % len(slots)].append(notice)
    # A notice never comes between a command and its echo (the modem echoes as it reads).
    if echo:
        slots[1] = slots[0] + slots[1]
        slots[0] = []
    data = b"".join(b"".join(wire(n) for n in slot) + unit
                    for slot, unit in zip(slots, [*units, b""], strict=True))
    protocol = AtProtocol()
    assert protocol.start(answer.command, want_prompt=answer.prompt) == \
        answer.command.encode() + b"\r"
    events = feed(protocol, data, cuts)

    assert [e.text for e in events if isinstance(e, Line)] == answer.lines
    assert [e.line for e in events if isinstance(e, Final)] == [answer.final]
    assert [e for e in events if isinstance(e, Notice)] == [n for slot in slots for n in slot]
    assert sum(isinstance(e, Echo) for e in events) == int(echo)
    assert sum(isinstance(e, Prompt) for e in events) == int(answer.prompt)
    assert not [e for e in events if isinstance(e, Stray | Dropped)]
    assert protocol.pending is None
    # The answer's own events keep their order: prompt, lines, then the final.
    own = [e for e in events if isinstance(e, Prompt | Line | Final)]
    assert isinstance(own[-1], Final)
    assert not answer.prompt or isinstance(own[0], Prompt)


garbage = st.lists(
    st.one_of(
        st.binary(max_size=24),
        st.sampled_from([b"\r", b"\n", b"\r\n", b"OK", b"ERROR", b"> ", b"+CDS: 5", b"\xff\xfe",
                         b'+CMTI: "SM",1', b"AT+CSQ", b"+CSQ: 1,1", b"+CME ERROR", b"\x00"]),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(garbage, st.lists(st.integers(0, 800), max_size=10), answers(),
       st.lists(st.integers(0, 800), max_size=10))
def test_garbage_never_kills_the_parser_nor_corrupts_the_next_answer(
    noise: bytes, noise_cuts: list[int], answer: Answer, cuts: list[int]
) -> None:
    protocol = AtProtocol()
    before = feed(protocol, noise, noise_cuts)
    assert not [e for e in before if isinstance(e, Line | Final | Echo | Prompt)]
    protocol.start(answer.command, want_prompt=answer.prompt)
    data = b"".join(answer_units(answer, echo=False))
    events = feed(protocol, data, cuts)

    assert [e.text for e in events if isinstance(e, Line)] == answer.lines
    assert [e.line for e in events if isinstance(e, Final)] == [answer.final]
    assert sum(isinstance(e, Prompt) for e in events) == int(answer.prompt)
    assert protocol.pending is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=20), st.booleans())
def test_any_bytes_with_a_command_pending_never_raise(
    data: bytes, cuts: list[int], prompt: bool
) -> None:
    protocol = AtProtocol()
    protocol.start("AT+CMGS=23" if prompt else "AT+CMGL=4", want_prompt=prompt)
    events = feed(protocol, data, cuts)
    assert all(isinstance(e, Echo | Line | Final | Prompt | Notice | Stray | Dropped)
               for e in events)
    protocol.start("AT")
    assert protocol.receive(b"\r\nOK\r\n")[-1] == Final("OK")


def test_a_line_without_end_is_dropped_and_the_next_answer_is_whole() -> None:
    protocol = AtProtocol()
    events = protocol.receive(b"\xaa" * (MAX_LINE + 1))
    assert events == [Dropped(f"{MAX_LINE + 1} bytes without a line end")]
    protocol.start("AT+CSQ")
    assert protocol.receive(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n") == [
        Line("+CSQ: 20,99"), Final("OK")]


def test_a_two_line_cds_split_across_reads_is_one_notice() -> None:
    protocol = AtProtocol()
    protocol.start("AT+CSQ")
    assert protocol.receive(b"\r\n+CD") == []
    assert protocol.receive(b"S: 6\r\n07") == []
    assert protocol.receive(b"91AB\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n") == [
        Notice("+CDS: 6", "0791AB"), Line("+CSQ: 20,99"), Final("OK")]


def test_a_cds_header_without_its_pdu_line_is_reported_not_swallowed() -> None:
    protocol = AtProtocol()
    protocol.start("AT+CSQ")
    assert protocol.receive(b"\r\n+CDS: 6\r\n+CSQ: 20,99\r\nOK\r\n") == [
        Dropped("+CDS without its PDU line"), Line("+CSQ: 20,99"), Final("OK")]


def test_the_asked_for_prefix_is_the_answer_not_a_notice() -> None:
    protocol = AtProtocol()
    protocol.start("AT+CREG?")
    assert protocol.receive(b"\r\n+CREG: 1\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n") == [
        Line("+CREG: 1"), Line("+CREG: 0,1"), Final("OK")]
    assert protocol.receive(b"\r\n+CREG: 5\r\n") == [Notice("+CREG: 5")]


def test_a_reply_after_its_command_was_abandoned_is_stray() -> None:
    protocol = AtProtocol()
    protocol.start("AT+CMGS=23", want_prompt=True)
    assert protocol.receive(b"\r\n> ") == [Prompt()]
    protocol.abandon()
    assert protocol.receive(b"\r\n+CMGS: 77\r\n\r\nOK\r\n") == [Stray("+CMGS: 77"), Stray("OK")]


def test_a_partial_line_from_before_the_command_is_not_its_answer() -> None:
    protocol = AtProtocol()
    assert protocol.receive(b"\r\nnoise>") == []
    protocol.start("AT+CMGS=23", want_prompt=True)
    assert protocol.receive(b"\r\n> ") == [Stray("noise>"), Prompt()]
    assert protocol.receive(b"\r\n+CMGS: 4\r\n\r\nOK\r\n") == [Line("+CMGS: 4"), Final("OK")]
