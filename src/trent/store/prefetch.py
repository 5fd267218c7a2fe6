"""Reads of a batch of requests, made together: what a store whose every read is a round trip offers.

A node's event loop hands over, in one go, the requests that arrived while it was busy (protocol/awsjson/
batch.py). Before any of them runs, the front names what they will read (ReadNeeds: access keys, users,
keys, aliases) and the store reads each kind in one statement; the requests then read from that snapshot.
Each of those statements started after every request of the batch arrived, so every request still sees
every commit that returned before it arrived: the guarantee fresh per-request reads give (a read from a
statement that starts after the request arrived), at a fraction of a round trip per request.

Only reads outside a transaction use the snapshot (a transaction reads under the writer lock, fresh), and a
write committed by this store drops it: later requests of the batch read what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from trent.kms.ids import AliasName, KeyId
from trent.kms.keys import AccessKey, Alias, Key, User
from trent.store.base import AliasRef

_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(slots=True)
class ReadNeeds:
    """What the requests of one batch will read, as far as their bytes tell before they run."""

    access_key_ids: set[str] = field(default_factory=set)
    key_ids: set[KeyId] = field(default_factory=set)
    # Aliases by (access key id, region, name): the account is the access key's, known once it is read.
    aliases: set[tuple[str, str, AliasName]] = field(default_factory=set)
    alias_refs: set[AliasRef] = field(default_factory=set)  # aliases named by ARN: the account is given


@dataclass(slots=True)
class Snapshot:
    """The records one batch read, and the ones it looked for and found absent (None)."""

    access_keys: dict[str, AccessKey | None] = field(default_factory=dict)
    users: dict[str, User | None] = field(default_factory=dict)
    keys: dict[KeyId, Key | None] = field(default_factory=dict)
    aliases: dict[AliasRef, Alias | None] = field(default_factory=dict)


@runtime_checkable
class Prefetching(Protocol):
    """A store that reads a batch's needs in a few statements and serves the batch's reads from them."""

    async def read(self, needs: ReadNeeds) -> Snapshot:
        """Read what `needs` names (the event loop goes on meanwhile)."""
        ...

    def install(self, snapshot: Snapshot) -> None:
        """Until end_batch(), reads outside a transaction come from `snapshot` where it has the record."""
        ...

    def end_batch(self) -> None: ...

    @property
    def round_trips(self) -> int:
        """Round trips to the database so far (a counter for metrics)."""
        ...


def absent(found: dict[_K, _V | None], wanted: Iterable[_K]) -> None:
    """Mark what was looked for and not found, so the batch does not look for it again."""
    for item in wanted:
        found.setdefault(item, None)
