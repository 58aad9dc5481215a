"""The audit trail's hash chain: appending entries, verifying a chain, and retention.

One chain per tenant: tenants do not wait for each other's appends, and retention and
verification work tenant by tenant. An entry's ``hash`` is the SHA-256 of the previous
entry's hash and a canonical JSON of the entry's content (:func:`digest`), so changing an
entry breaks its own hash, and removing one breaks the link of the entry after it.

Appends are serialized per tenant by an UPDATE of the chain's head row (``audit_chains``)
before the entries are numbered: PostgreSQL holds the row lock until the transaction ends,
and SQLite lets one writer at a time anyway. Retention deletes a chain's oldest entries and
moves its anchor (the last deleted entry's number and hash) forward in the same transaction,
so a chain that retention shortened still verifies, and one whose oldest entry was deleted
any other way does not.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from broadsheet.kit.time import utc_now
from broadsheet.models.audit import GENESIS, AuditChain, AuditEvent

EVENTS = cast(Table, AuditEvent.__table__)
CHAINS = cast(Table, AuditChain.__table__)


@dataclass(frozen=True)
class Entry:
    """An entry to append: everything but its place in the chain."""

    tenant_id: uuid.UUID
    action: str
    object_type: str
    object_id: uuid.UUID | None
    actor_type: str
    actor_id: str | None
    ip: str | None
    request_id: str | None
    changes: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


def _instant(at: datetime) -> str:
    # Microseconds: what both databases keep, so a row read back hashes the same.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def digest(row: dict[str, Any], prev_hash: str) -> str:
    """The hash of an entry (a row's values by column name) after ``prev_hash``."""
    content = {
        "seq": row["seq"],
        "tenantId": str(row["tenant_id"]),
        "at": _instant(row["at"]),
        "actor": {"type": row["actor_type"], "id": row["actor_id"]},
        "action": row["action"],
        "object": {
            "type": row["object_type"],
            "id": str(row["object_id"]) if row["object_id"] else None,
        },
        "ip": row["ip"],
        "requestId": row["request_id"],
        "changes": row["changes"],
        "details": row["details"],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _lock_head(conn: Connection, tenant_id: uuid.UUID) -> tuple[int, str]:
    """The chain's last number and hash, its head row locked until the transaction ends."""
    lock = (
        update(CHAINS)
        .where(CHAINS.c.tenant_id == tenant_id)
        .values(last_seq=CHAINS.c.last_seq)  # changes nothing; takes the lock
        .returning(CHAINS.c.last_seq, CHAINS.c.last_hash)
    )
    head = conn.execute(lock).first()
    if head is None:  # the tenant's first entry: its chain, unless another just made it
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(CHAINS)
            .values(
                tenant_id=tenant_id,
                last_seq=0,
                last_hash=GENESIS,
                anchor_seq=0,
                anchor_hash=GENESIS,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        head = conn.execute(lock).one()
    return int(head[0]), str(head[1])


def append(conn: Connection, entries: Iterable[Entry]) -> None:
    """Numbers, times, hashes and inserts ``entries``, in their order, in ``conn``'s
    transaction."""
    by_tenant: dict[uuid.UUID, list[Entry]] = {}
    for entry in entries:
        by_tenant.setdefault(entry.tenant_id, []).append(entry)
    # Tenants in a fixed order: two transactions never wait for each other's heads in turn.
    for tenant_id in sorted(by_tenant):
        seq, prev = _lock_head(conn, tenant_id)
        at = utc_now()  # under the lock: a chain's times never go back
        rows = []
        for entry in by_tenant[tenant_id]:
            seq += 1
            row = {**entry.__dict__, "id": uuid.uuid4(), "seq": seq, "at": at}
            row["hash"] = digest(row, prev)
            row["prev_hash"] = prev
            prev = row["hash"]
            rows.append(row)
        conn.execute(insert(EVENTS), rows)
        conn.execute(
            update(CHAINS)
            .where(CHAINS.c.tenant_id == tenant_id)
            .values(last_seq=seq, last_hash=prev)
        )


@dataclass(frozen=True)
class Break:
    """Where a chain stops holding: the first entry changed or removed."""

    tenant_id: uuid.UUID
    message: str


@dataclass(frozen=True)
class Verified:
    entries: int
    chains: int
    broken: Break | None


def verify(conn: Connection, tenant_id: uuid.UUID | None = None) -> Verified:
    """Walks every chain (or ``tenant_id``'s) from its anchor; stops at the first break."""
    heads = select(CHAINS).order_by(CHAINS.c.tenant_id)
    if tenant_id is not None:
        heads = heads.where(CHAINS.c.tenant_id == tenant_id)
    count = chains = 0
    for head in conn.execute(heads).mappings().all():
        chains += 1
        walked, problem = _walk(conn, head)
        count += walked
        if problem:
            return Verified(count, chains, Break(head["tenant_id"], problem))
    orphan = _entries_without_chain(conn, tenant_id)
    if orphan:
        return Verified(
            count,
            chains,
            Break(
                orphan,
                f"entry {_first_id(conn, orphan)} has no "
                "chain: its tenant's chain head was removed",
            ),
        )
    return Verified(count, chains, None)


def _walk(conn: Connection, head: Any) -> tuple[int, str | None]:
    seq, prev = head["anchor_seq"], head["anchor_hash"]
    walked = 0
    query = select(EVENTS).where(EVENTS.c.tenant_id == head["tenant_id"]).order_by(EVENTS.c.seq)
    # Streamed (a server-side cursor on PostgreSQL), and closed even when the walk stops early.
    with conn.execution_options(yield_per=1000).execute(query) as result:
        for row in result.mappings():
            walked += 1
            problem = _problem(row, seq, prev)
            if problem:
                return walked, problem
            seq, prev = row["seq"], row["hash"]
    if seq != head["last_seq"] or prev != head["last_hash"]:
        return walked, (
            f"entry #{head['last_seq']} was removed (the chain's last entry is missing)"
            if seq < head["last_seq"]
            else f"the chain's head does not match its last entry (#{seq})"
        )
    return walked, None


def _problem(row: Any, seq: int, prev: str) -> str | None:
    """What is wrong with ``row`` coming after entry ``seq`` whose hash is ``prev``."""
    if row["seq"] != seq + 1:
        missing = seq + 1 if row["seq"] > seq + 1 else row["seq"]
        return (
            f"entry #{missing} was removed (the chain breaks before entry {row['id']}, "
            f"#{row['seq']})"
        )
    if row["prev_hash"] != prev:
        return (
            f"entry {row['id']} (#{row['seq']}) does not follow the entry before it: "
            "that one was changed or removed"
        )
    if digest(dict(row), prev) != row["hash"]:
        return f"entry {row['id']} (#{row['seq']}) was changed"
    return None


def _entries_without_chain(conn: Connection, tenant_id: uuid.UUID | None) -> uuid.UUID | None:
    query = (
        select(EVENTS.c.tenant_id)
        .where(~select(CHAINS.c.tenant_id).where(CHAINS.c.tenant_id == EVENTS.c.tenant_id).exists())
        .limit(1)
    )
    if tenant_id is not None:
        query = query.where(EVENTS.c.tenant_id == tenant_id)
    found: uuid.UUID | None = conn.scalar(query)
    return found


def _first_id(conn: Connection, tenant_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = conn.scalar(
        select(EVENTS.c.id).where(EVENTS.c.tenant_id == tenant_id).order_by(EVENTS.c.seq).limit(1)
    )
    return found


def expire(conn: Connection, days: int, now: datetime | None = None) -> int:
    """Deletes the entries older than ``days`` and moves each chain's anchor to the last one
    deleted; the number deleted. Call in a transaction of its own (it locks chain heads)."""
    cutoff = (now or utc_now()) - timedelta(days=days)
    due = conn.execute(
        select(EVENTS.c.tenant_id, func.max(EVENTS.c.seq))
        .where(EVENTS.c.at < cutoff)
        .group_by(EVENTS.c.tenant_id)
    ).all()
    deleted = 0
    for tenant_id, last_due in sorted(due):
        _lock_head(conn, tenant_id)
        anchor = conn.scalar(
            select(EVENTS.c.hash).where(EVENTS.c.tenant_id == tenant_id, EVENTS.c.seq == last_due)
        )
        if anchor is None:  # already expired by another process meanwhile
            continue
        gone = conn.execute(
            delete(EVENTS).where(EVENTS.c.tenant_id == tenant_id, EVENTS.c.seq <= last_due)
        )
        deleted += gone.rowcount
        conn.execute(
            update(CHAINS)
            .where(CHAINS.c.tenant_id == tenant_id)
            .values(anchor_seq=last_due, anchor_hash=anchor)
        )
    return deleted
