"""Administration of principals: accounts, IAM-style users and their identity policies, and access keys.

Not KMS operations: `trent admin` and the first start call these. Every change is a store write that the
next request reads, so nothing needs a restart. Revocations (deactivate, delete) follow IAM's rules and
messages (UpdateAccessKey, DeleteAccessKey, DeleteUser's DeleteConflict) and are audited.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import string
import uuid
from typing import Any

from trent.audit.events import AuditEvent, UserIdentity
from trent.authz.policy import PolicyError, parse_policy
from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey, Account, User
from trent.kms.principals import (
    ACCESS_KEY_ID,
    ACCESS_KEY_ID_RULE,
    DEV_ACCESS_KEY_ID,
    DEV_ACCESS_KEY_ID_RULE,
    root_arn,
    user_arn,
)
from trent.kms.sensitive import Sensitive
from trent.ops.deps import Deps
from trent.rootoftrust.base import WrappedMaterial, secret_aad
from trent.store.base import DuplicateError, Reader, Transaction

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ACCOUNT_ID = re.compile(r"[0-9]{12}")
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}")  # IAM user names
STATUSES = {"Active": True, "Inactive": False}  # IAM's StatusType (UpdateAccessKey)
ADMIN_AGENT = "trent-admin"


class PrincipalError(ValueError):
    """An administration request that cannot be carried out; the message says why."""


AccessKeyError = PrincipalError  # the name earlier callers use


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_secret() -> Sensitive:
    return Sensitive("".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)).encode())


def _account(account: str) -> AccountId:
    if ACCOUNT_ID.fullmatch(account) is None:
        raise PrincipalError(f"{account!r} is not an account id (12 digits)")
    return AccountId(account)


def create_account(deps: Deps, account: str) -> Account:
    """Create an account (idempotent: an existing one is returned as it is)."""
    record = Account(_account(account), deps.clock())
    with deps.store.transaction() as tx:
        tx.put_account(record)
        found = tx.get_account(record.account)
    assert found is not None
    return found


def create_user(deps: Deps, account: str, name: str) -> User:
    if USER_NAME.fullmatch(name) is None:
        raise PrincipalError(f"{name!r} is not a valid user name (1-64 of letters, digits and +=,.@_-)")
    acct = _account(account)
    user = User(user_arn(acct, name), acct, name, deps.clock())
    with deps.store.transaction() as tx:
        if tx.get_account(acct) is None:
            raise PrincipalError(f"account {acct} does not exist; create it first (trent admin create-account)")
        try:
            tx.insert_user(user)
        except DuplicateError:
            raise PrincipalError(f"user {user.arn} already exists") from None
    return user


def _user(deps: Deps, account: str, name: str) -> User:
    user = deps.store.get_user(user_arn(_account(account), name))
    if user is None:
        raise PrincipalError(f"user {user_arn(account, name)} does not exist (trent admin create-user)")
    return user


def put_user_policy(deps: Deps, account: str, name: str, document: str) -> User:
    """Attach an identity policy to a user, replacing any it had. The document is validated first."""
    try:
        parse_policy(document, kind="identity")
    except PolicyError as exc:
        raise PrincipalError(f"the policy document is not valid: {exc}") from None
    user = _user(deps, account, name)
    with deps.store.transaction() as tx:
        tx.put_user_policy(user.arn, document)
    return _user(deps, account, name)


def get_user_policy(deps: Deps, account: str, name: str) -> str | None:
    return _user(deps, account, name).policy


def create_access_key(
    deps: Deps,
    account: AccountId,
    principal_arn: str,
    access_key_id: str | None = None,
    secret: Sensitive | None = None,
    *,
    dev: bool = False,
) -> tuple[AccessKey, Sensitive]:
    """Store a new access key, its secret wrapped by the root of trust; returns the key and its secret.

    A key of the account root creates the account if it is new; a user's key needs the user to exist. `dev`: the
    short ids and secrets test suites use are accepted too (a dev server's, docs/dev-mode.md).
    """
    access_key_id = access_key_id or new_access_key_id()
    pattern, rule = (DEV_ACCESS_KEY_ID, DEV_ACCESS_KEY_ID_RULE) if dev else (ACCESS_KEY_ID, ACCESS_KEY_ID_RULE)
    if pattern.fullmatch(access_key_id) is None:
        raise PrincipalError(rule)
    secret = secret or new_secret()
    if not secret.reveal() or (len(secret) < 16 and not dev):
        raise PrincipalError("a secret access key must be at least 16 characters")
    wrapped = deps.root_of_trust.wrap(secret, secret_aad(access_key_id)).to_bytes()
    record = AccessKey(access_key_id, _account(account), principal_arn, wrapped, deps.clock())
    with deps.store.transaction() as tx:
        if principal_arn == root_arn(account):
            tx.put_account(Account(record.account, record.created))
        elif tx.get_user(principal_arn) is None:
            raise PrincipalError(f"user {principal_arn} does not exist (trent admin create-user)")
        if tx.get_access_key(access_key_id) is not None:
            raise PrincipalError(f"access key {access_key_id} already exists")
        tx.put_access_key(record)
    return record, secret


def secret_of(deps: Deps, record: AccessKey) -> Sensitive:
    return deps.root_of_trust.unwrap(
        WrappedMaterial.from_bytes(record.wrapped_secret), secret_aad(record.access_key_id)
    )


def home_account(store: Reader) -> AccountId | None:
    """The data directory's own account: the first one created (by the first `trent serve`)."""
    accounts = store.list_accounts()
    return min(accounts, key=lambda a: (a.created, a.account)).account if accounts else None


def resolve_account(deps: Deps, account: str | None) -> AccountId:
    """The account an admin command acts on: the one named, which must exist, else the data directory's own.

    Only create-account makes an account: a mistyped --account-id is an error, not a new account.
    """
    if account is not None:
        acct = _account(account)
        if deps.store.get_account(acct) is None:
            raise PrincipalError(f"account {acct} does not exist (trent admin create-account {acct} makes it)")
        return acct
    home = home_account(deps.store)
    if home is None:
        raise PrincipalError("the data directory has no account (trent admin create-account ACCOUNT_ID makes one)")
    return home


def _admin_event(deps: Deps, event_name: str, account: AccountId, parameters: dict[str, Any]) -> AuditEvent:
    """The audit record of an administration change: made with the authority of the account's root, by
    `trent admin` on the server's machine (CloudTrail records IAM calls with eventSource iam.amazonaws.com)."""
    return AuditEvent(
        event_name=event_name,
        event_time=deps.clock(),
        region="us-east-1",  # IAM is global; CloudTrail records its calls in us-east-1
        request_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        user_identity=UserIdentity("Root", account, root_arn(account)),
        source_ip="localhost",
        user_agent=ADMIN_AGENT,
        read_only=False,
        recipient_account_id=account,
        request_parameters=parameters,
        event_source="iam.amazonaws.com",
    )


def _audited(deps: Deps, event: AuditEvent) -> None:
    """Record before the change commits (called inside its transaction): no revocation goes unaudited."""
    deps.audit.record_now([event])


def _access_key_of(tx: Transaction, account: AccountId, access_key_id: str, user: str | None) -> AccessKey:
    record = tx.get_access_key(access_key_id)
    owner = root_arn(account) if user is None else user_arn(account, user)
    # IAM scopes access keys to the caller's account (and, with UserName, to that user): any other is unknown.
    if record is None or record.account != account or (user is not None and record.principal_arn != owner):
        raise PrincipalError(f"The Access Key with id {access_key_id} cannot be found (in account {account}).")
    return record


def update_access_key(
    deps: Deps, account: AccountId, access_key_id: str, status: str, user: str | None = None
) -> AccessKey:
    """IAM UpdateAccessKey: Active or Inactive. An inactive key authenticates nobody from the next request on
    (every worker re-reads the record once the store's epoch changes: decision 0006)."""
    if status not in STATUSES:
        raise PrincipalError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    with deps.store.transaction() as tx:
        record = _access_key_of(tx, account, access_key_id, user)
        tx.set_access_key_active(access_key_id, STATUSES[status])
        params = {"accessKeyId": access_key_id, "status": status}
        _audited(deps, _admin_event(deps, "UpdateAccessKey", account, params | _user_param(record)))
    return dataclasses.replace(record, active=STATUSES[status])


def delete_access_key(deps: Deps, account: AccountId, access_key_id: str, user: str | None = None) -> AccessKey:
    """IAM DeleteAccessKey: the key authenticates nobody from the next request on, and cannot come back."""
    with deps.store.transaction() as tx:
        record = _access_key_of(tx, account, access_key_id, user)
        tx.delete_access_key(access_key_id)
        params = {"accessKeyId": access_key_id} | _user_param(record)
        _audited(deps, _admin_event(deps, "DeleteAccessKey", account, params))
    return record


def _user_param(record: AccessKey) -> dict[str, str]:
    return {} if record.principal_arn.endswith(":root") else {"userName": record.principal_arn.rsplit("/", 1)[-1]}


def _user_in(tx: Transaction, account: AccountId, name: str) -> User:
    user = tx.get_user(user_arn(account, name))
    if user is None:
        raise PrincipalError(f"The user with name {name} cannot be found (in account {account}).")
    return user


def delete_user_policy(deps: Deps, account: AccountId, name: str) -> User:
    """IAM DeleteUserPolicy: the user's identity policy stops allowing anything from the next request on."""
    with deps.store.transaction() as tx:
        user = _user_in(tx, account, name)
        if user.policy is None:
            raise PrincipalError(f"The user policy of {name} cannot be found: the user has no identity policy.")
        tx.put_user_policy(user.arn, None)
        _audited(deps, _admin_event(deps, "DeleteUserPolicy", account, {"userName": name}))
    return user


def delete_user(deps: Deps, account: AccountId, name: str) -> User:
    """IAM DeleteUser, with its DeleteConflict checks: a user with access keys or a policy stays."""
    with deps.store.transaction() as tx:
        user = _user_in(tx, account, name)
        if any(k.principal_arn == user.arn for k in tx.list_access_keys(account)):
            raise PrincipalError("DeleteConflict: Cannot delete entity, must delete access keys first.")
        if user.policy is not None:
            raise PrincipalError("DeleteConflict: Cannot delete entity, must delete policies first.")
        tx.delete_user(user.arn)
        _audited(deps, _admin_event(deps, "DeleteUser", account, {"userName": name}))
    return user


def delete_account(deps: Deps, account: str) -> Account:
    """Delete an empty account. Refused while it holds keys (until destroyed), users or access keys, and for
    the data directory's own account: nothing a deletion could orphan is ever deleted with it."""
    acct = resolve_account(deps, account)
    with deps.store.transaction() as tx:
        found = tx.get_account(acct)
        assert found is not None
        if acct == home_account(tx):
            raise PrincipalError(f"account {acct} is the data directory's own account; it cannot be deleted")
        held = {
            "key(s) (schedule their deletion; they count until destroyed)": tx.count_keys(acct),
            "user(s)": len(tx.list_users(acct)),
            "access key(s)": len(tx.list_access_keys(acct)),
        }
        if any(held.values()):
            what = ", ".join(f"{n} {name}" for name, n in held.items() if n)
            raise PrincipalError(f"DeleteConflict: Cannot delete account {acct}, it still has {what}.")
        tx.delete_account(acct)
        _audited(deps, _admin_event(deps, "DeleteAccount", acct, {"accountId": acct}))
    return found
