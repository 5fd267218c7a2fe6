"""Rows of the SQLite store to records and back: one column list per table, read and written in that order.

Timestamps are stored as REAL seconds since the epoch and read back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trent.kms.ids import AccountId, AliasName, KeyId, Region, public_key_id
from trent.kms.keys import AccessKey, Alias, Grant, Key, User
from trent.kms.specs import ExpirationModel, KeySpec, KeyState, KeyUsage, Origin
from trent.store import constraints

KEY_COLUMNS = (
    "key_id, account, region, spec, usage, origin, state, creation_date, description, deletion_date, "
    "pending_window_days, current_version, revision, policy_revision, multi_region, valid_to, expiration_model, "
    "rotation_period_days, next_rotation_date, on_demand_rotation_start, material_ids, primary_region, "
    "custom_key_store_id, xks_key_id"
)


def ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def key(row: Any) -> Key:
    return Key(
        key_id=public_key_id(row[0]),
        account=AccountId(row[1]),
        region=Region(row[2]),
        spec=KeySpec(row[3]),
        usage=KeyUsage(row[4]),
        origin=Origin(row[5]),
        state=KeyState(row[6]),
        creation_date=datetime.fromtimestamp(row[7], UTC),
        description=row[8],
        deletion_date=dt(row[9]),
        pending_window_days=row[10],
        current_version=row[11],
        revision=row[12],
        policy_revision=row[13],
        multi_region=bool(row[14]),
        valid_to=dt(row[15]),
        expiration_model=None if row[16] is None else ExpirationModel(row[16]),
        rotation_period_days=row[17],
        next_rotation_date=dt(row[18]),
        on_demand_rotation_start=dt(row[19]),
        material_ids=tuple(row[20].split(",")) if row[20] else (),
        primary_region=None if row[21] is None else Region(row[21]),
        custom_key_store_id=row[22],
        xks_key_id=row[23],
    )


def key_values(key: Key) -> tuple[Any, ...]:
    return (
        key.store_id,
        key.account,
        key.region,
        key.spec.value,
        key.usage.value,
        key.origin.value,
        key.state.value,
        key.creation_date.timestamp(),
        key.description,
        ts(key.deletion_date),
        key.pending_window_days,
        key.current_version,
        key.revision,
        key.policy_revision,
        int(key.multi_region),
        ts(key.valid_to),
        None if key.expiration_model is None else key.expiration_model.value,
        key.rotation_period_days,
        ts(key.next_rotation_date),
        ts(key.on_demand_rotation_start),
        ",".join(key.material_ids),
        key.primary_region,
        key.custom_key_store_id,
        key.xks_key_id,
    )


def alias(row: Any) -> Alias:
    return Alias(
        account=AccountId(row[0]),
        region=Region(row[1]),
        name=AliasName(row[2]),
        target_key_id=KeyId(row[3]),
        creation_date=datetime.fromtimestamp(row[4], UTC),
        last_updated_date=datetime.fromtimestamp(row[5], UTC),
    )


def access_key(row: Any) -> AccessKey:
    return AccessKey(
        access_key_id=row[0],
        account=AccountId(row[1]),
        principal_arn=row[2],
        wrapped_secret=bytes(row[3]),
        created=datetime.fromtimestamp(row[4], UTC),
        active=bool(row[5]),
    )


def grant(row: Any) -> Grant:
    return Grant(
        grant_id=row[0],
        key_id=KeyId(row[1]),
        grantee_principal=row[2],
        operations=tuple(row[3].split(",")),
        issuing_account=AccountId(row[4]),
        created=datetime.fromtimestamp(row[5], UTC),
        name=row[6],
        retiring_principal=row[7],
        constraints=constraints.decode(row[8]),
    )


CACHE_SIZE = 20_000
# Ids per statement of a many-record read: below SQLite's 999-variable limit of old builds, even for 3 per alias.
CHUNK = 300
ALIAS_SELECTED = "a.account, a.region, a.name, a.key_id, a.creation_date, a.last_updated_date"

GRANT_COLUMNS = "grant_id, key_id, grantee, operations, issuing_account, created, name, retiring, constraints"
USER_COLUMNS = "arn, account, name, created, policy, policy_revision"


def user(row: Any) -> User:
    return User(row[0], AccountId(row[1]), row[2], datetime.fromtimestamp(row[3], UTC), row[4], row[5])
