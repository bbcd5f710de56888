"""The modem's message memories: SM (the SIM card) and ME (the modem itself)."""

from __future__ import annotations

from appliance.fakemodem.model import ModemConfig, Stored

STORAGES = ("SM", "ME")


def storage_name(storage: str) -> str:
    """`sm` -> `SM`; ValueError for anything but SM or ME."""
    if storage.upper() not in STORAGES:
        raise ValueError(f"storage must be SM or ME, got {storage!r}")
    return storage.upper()


class Storages:
    """Messages slot by slot; each memory has a capacity and a first index (ME counts
    from 0 on many modems, SM from 1). A memory marked full takes nothing more."""

    def __init__(self, config: ModemConfig) -> None:
        self.slots: dict[str, dict[int, Stored]] = {s: {} for s in STORAGES}
        self.capacity = {"SM": config.sm_capacity, "ME": config.me_capacity}
        self.first_index = {"SM": config.sm_first_index, "ME": config.me_first_index}
        self.full: set[str] = set()  # sim-full fault: refuse new messages

    def used(self, storage: str) -> int:
        """Messages stored in `storage`."""
        return len(self.slots[storage])

    def total(self) -> int:
        """Messages in all memories."""
        return sum(len(s) for s in self.slots.values())

    def stored(self) -> list[Stored]:
        """Every stored message, SM first, by index."""
        return [m for s in STORAGES for _, m in sorted(self.slots[s].items())]

    def in_range(self, storage: str, index: int) -> bool:
        """Whether `index` names a slot of `storage` (used or not)."""
        first = self.first_index[storage]
        return first <= index < first + self.capacity[storage]

    def free_slot(self, storage: str) -> int | None:
        """The lowest free index, None when the memory is full (or marked so)."""
        if storage in self.full:
            return None
        first = self.first_index[storage]
        for i in range(first, first + self.capacity[storage]):
            if i not in self.slots[storage]:
                return i
        return None

    def put(self, message: Stored) -> None:
        """Store a message at its own storage and index."""
        self.slots[message.storage][message.index] = message
