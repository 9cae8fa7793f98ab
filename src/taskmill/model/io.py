"""IO budgets (what a task expects to move) and IO usage (what it moved)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskmill.model.errors import InvalidIoBudgetError
from taskmill.model.jsonable import json_dict


def check_bytes(value: object, what: str) -> int:
    """Return ``value`` as a byte count, or raise :class:`InvalidIoBudgetError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidIoBudgetError(f"{what} must be a whole number of bytes >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class IoBudget:
    """Bytes a task expects to read and write on disk and receive and send on the network.

    Combine budgets with ``+``: ``IoBudget.disk(read=4096) + IoBudget.net(tx=1 << 20)``.
    """

    disk_read: int = 0
    disk_write: int = 0
    net_rx: int = 0
    net_tx: int = 0

    def __post_init__(self) -> None:
        for name in ("disk_read", "disk_write", "net_rx", "net_tx"):
            check_bytes(getattr(self, name), name)

    @classmethod
    def disk(cls, read: int = 0, write: int = 0) -> IoBudget:
        """A budget of disk bytes read and written."""
        return cls(disk_read=read, disk_write=write)

    @classmethod
    def net(cls, rx: int = 0, tx: int = 0) -> IoBudget:
        """A budget of network bytes received and sent."""
        return cls(net_rx=rx, net_tx=tx)

    @classmethod
    def of(cls, disk_read: int, disk_write: int, net_rx: int, net_tx: int) -> IoBudget:
        """Return a budget of byte counts already known to be valid (no re-validation).

        Used on hot paths for values read back from the database or counted by taskmill
        itself; returns the shared empty budget when every count is zero.
        """
        if not (disk_read or disk_write or net_rx or net_tx):
            return NO_IO
        budget = object.__new__(cls)
        object.__setattr__(budget, "disk_read", disk_read)
        object.__setattr__(budget, "disk_write", disk_write)
        object.__setattr__(budget, "net_rx", net_rx)
        object.__setattr__(budget, "net_tx", net_tx)
        return budget

    def __add__(self, other: IoBudget) -> IoBudget:
        return IoBudget(
            self.disk_read + other.disk_read,
            self.disk_write + other.disk_write,
            self.net_rx + other.net_rx,
            self.net_tx + other.net_tx,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the budget as a JSON-serializable dict."""
        return json_dict(self)


NO_IO = IoBudget()
