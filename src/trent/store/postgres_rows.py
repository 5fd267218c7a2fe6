"""Rows of the PostgreSQL store to records and back: one column list per table, read and written in that order.

psycopg gives timestamptz back as aware datetimes in the session's time zone, which the store sets to UTC,
so a datetime read back equals the one written, to the microsecond.
"""

from __future__ import annotations

from typing import Any

from trent.kms.ids import AccountId, AliasName, KeyId, Region, public_key_id
from trent.kms.keys import AccessKey, Account, Alias, Grant, Key, User
from trent.kms.specs import ExpirationModel, KeySpec, KeyState, KeyUsage, Origin
from trent.store import constraints

KEY_COLUMNS = (
    "key_id, account, region, spec, usage, origin, state, creation_date, description, deletion_date, "
    "pending_window_days, current_version, revision, policy_revision, multi_region, valid_to, expiration_model, "
    "rotation_period_days, next_rotation_date, on_demand_rotation_start, material_ids, primary_region, "
    "custom_key_store_id, xks_key_id"
)
ALIAS_COLUMNS = "account, region, name, key_id, creation_date, last_updated_date"
ACCESS_KEY_COLUMNS = "access_key_id, account, principal_arn, wrapped_secret, created, active"
GRANT_COLUMNS = "grant_id, key_id, grantee, operations, issuing_account, created, name, retiring, constraints"
USER_COLUMNS = "arn, account, name, created, policy, policy_revision"


def insert(table: str, columns: str) -> str:
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(columns.split(',')))})"


def key(row: Any) -> Key:
    return Key(
        key_id=public_key_id(row[0]),
        account=AccountId(row[1]),
        region=Region(row[2]),
        spec=KeySpec(row[3]),
        usage=KeyUsage(row[4]),
        origin=Origin(row[5]),
        state=KeyState(row[6]),
        creation_date=row[7],
        description=row[8],
        deletion_date=row[9],
        pending_window_days=row[10],
        current_version=row[11],
        revision=row[12],
        policy_revision=row[13],
        multi_region=row[14],
        valid_to=row[15],
        expiration_model=None if row[16] is None else ExpirationModel(row[16]),
        rotation_period_days=row[17],
        next_rotation_date=row[18],
        on_demand_rotation_start=row[19],
        material_ids=tuple(row[20].split(",")) if row[20] else (),
        primary_region=None if row[21] is None else Region(row[21]),
        custom_key_store_id=row[22],
        xks_key_id=row[23],
    )


def key_values(record: Key) -> tuple[Any, ...]:
    return (
        record.store_id,
        record.account,
        record.region,
        record.spec.value,
        record.usage.value,
        record.origin.value,
        record.state.value,
        record.creation_date,
        record.description,
        record.deletion_date,
        record.pending_window_days,
        record.current_version,
        record.revision,
        record.policy_revision,
        record.multi_region,
        record.valid_to,
        None if record.expiration_model is None else record.expiration_model.value,
        record.rotation_period_days,
        record.next_rotation_date,
        record.on_demand_rotation_start,
        ",".join(record.material_ids),
        record.primary_region,
        record.custom_key_store_id,
        record.xks_key_id,
    )


def alias(row: Any) -> Alias:
    return Alias(AccountId(row[0]), Region(row[1]), AliasName(row[2]), KeyId(row[3]), row[4], row[5])


def alias_values(record: Alias) -> tuple[Any, ...]:
    return (
        record.account,
        record.region,
        record.name,
        record.target_key_id,
        record.creation_date,
        record.last_updated_date,
    )


def access_key(row: Any) -> AccessKey:
    return AccessKey(row[0], AccountId(row[1]), row[2], bytes(row[3]), row[4], row[5])


def access_key_values(record: AccessKey) -> tuple[Any, ...]:
    return (
        record.access_key_id,
        record.account,
        record.principal_arn,
        record.wrapped_secret,
        record.created,
        record.active,
    )


def account(row: Any) -> Account:
    return Account(AccountId(row[0]), row[1])


def user(row: Any) -> User:
    return User(row[0], AccountId(row[1]), row[2], row[3], row[4], row[5])


def user_values(record: User) -> tuple[Any, ...]:
    return (record.arn, record.account, record.name, record.created, record.policy, record.policy_revision)


def grant(row: Any) -> Grant:
    return Grant(
        grant_id=row[0],
        key_id=KeyId(row[1]),
        grantee_principal=row[2],
        operations=tuple(row[3].split(",")),
        issuing_account=AccountId(row[4]),
        created=row[5],
        name=row[6],
        retiring_principal=row[7],
        constraints=constraints.decode(row[8]),
    )


def grant_values(record: Grant) -> tuple[Any, ...]:
    return (
        record.grant_id,
        record.key_id,
        record.grantee_principal,
        ",".join(record.operations),
        record.issuing_account,
        record.created,
        record.name,
        record.retiring_principal,
        constraints.encode(record.constraints),
    )
