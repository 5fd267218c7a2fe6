"""Administration of principals: accounts, IAM-style users and their identity policies, and access keys.

Not KMS operations: `trent admin` and the first start call these. Every change is a store write that the
next request reads, so nothing needs a restart.
"""

from __future__ import annotations

import re
import secrets
import string

from trent.authz.policy import PolicyError, parse_policy
from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey, Account, User
from trent.kms.principals import root_arn, user_arn
from trent.kms.sensitive import Sensitive
from trent.ops.deps import Deps
from trent.rootoftrust.base import WrappedMaterial, secret_aad
from trent.store.base import DuplicateError

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}")  # IAM user names


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
) -> tuple[AccessKey, Sensitive]:
    """Store a new access key, its secret wrapped by the root of trust; returns the key and its secret.

    A key of the account root creates the account if it is new; a user's key needs the user to exist.
    """
    access_key_id = access_key_id or new_access_key_id()
    if ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise PrincipalError("an access key id is 16-128 uppercase letters and digits")
    secret = secret or new_secret()
    if len(secret) < 16:
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
