"""Pure multipart reassembly (appliance.core.concat)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.core.concat import Part, next_deadline, reassemble

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=10)


def part(mid: int, seq: int, text: str, *, total: int = 3, ref: int = 7,
         sender: str = "+38344123456", at: datetime = T0) -> Part:
    return Part(mid, sender, ref, total, seq, text, at)


def test_out_of_order_parts_are_joined_in_sequence() -> None:
    r = reassemble([part(3, 3, "c"), part(1, 1, "a"), part(2, 2, "b")], T0, TIMEOUT)
    assert [g.text for g in r.complete] == ["abc"]
    assert r.complete[0].message_ids == (1, 2, 3)
    assert not r.expired
    assert not r.waiting


def test_missing_part_waits_then_expires_with_what_arrived() -> None:
    parts = [part(1, 1, "a"), part(3, 3, "c")]
    r = reassemble(parts, T0 + TIMEOUT - timedelta(seconds=1), TIMEOUT)
    assert [g.missing for g in r.waiting] == [(2,)]
    assert next_deadline(r.waiting, TIMEOUT) == T0 + TIMEOUT
    r = reassemble(parts, T0 + TIMEOUT, TIMEOUT)
    assert [(g.text, g.missing) for g in r.expired] == [("ac", (2,))]


def test_groups_are_kept_apart_by_sender_ref_and_total() -> None:
    parts = [
        part(1, 1, "a"), part(2, 2, "b"),
        part(3, 1, "x", sender="+38349111222"), part(4, 2, "y", sender="+38349111222"),
        part(5, 1, "p", total=2), part(6, 2, "q", total=2),
    ]
    r = reassemble(parts, T0, TIMEOUT)
    assert sorted(g.text for g in r.complete) == ["pq"]
    assert sorted(g.text for g in r.waiting) == ["ab", "xy"]


def test_duplicate_and_malformed_parts_are_consumed_not_repeated() -> None:
    parts = [part(1, 1, "a"), part(2, 1, "A"), part(3, 2, "b"), part(4, 9, "zz", total=2),
             part(5, 0, "zz", total=2)]
    r = reassemble([*parts[:3]], T0, TIMEOUT)
    assert r.waiting[0].text == "ab"
    assert r.waiting[0].message_ids == (1, 2, 3)
    r = reassemble([part(1, 1, "a", total=2), part(3, 2, "b", total=2), *parts[3:]], T0, TIMEOUT)
    assert [g.text for g in r.complete] == ["ab"]
    assert r.complete[0].message_ids == (1, 3, 4, 5)
