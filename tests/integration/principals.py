"""The principals of the access-control tests, and AWS's access-denied messages about them.

Account A (111122223333, the server's) has users alice and bob; account B (444455556666) has users carol and
dave. Users and access keys are made with the real `trent admin` commands.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support import TrentServer, kms_client, trent_command

A = "111122223333"
B = "444455556666"
A_ROOT = f"arn:aws:iam::{A}:root"
B_ROOT = f"arn:aws:iam::{B}:root"
ALICE = f"arn:aws:iam::{A}:user/alice"
BOB = f"arn:aws:iam::{A}:user/bob"
CAROL = f"arn:aws:iam::{B}:user/carol"
DAVE = f"arn:aws:iam::{B}:user/dave"

NO_RESOURCE_ALLOW = "because no resource-based policy allows the {action} action"
NO_IDENTITY_ALLOW = "because no identity-based policy allows the {action} action"
DENY_IN_RESOURCE = "with an explicit deny in a resource-based policy"
DENY_IN_IDENTITY = "with an explicit deny in an identity-based policy"


def denied(principal: str, action: str, resource: str, because: str) -> tuple[str, str]:
    """AWS's AccessDeniedException for `principal` doing `action` on `resource`."""
    reason = because.format(action=action)
    return (
        "AccessDeniedException",
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}",
    )


# AWS's text when another account's key does not let the caller in, or does not exist: it names no key and does not
# say which (docs/aws-semantics.md A.8).
UNSEEN = (
    "because the resource does not exist in this Region, no resource-based policies allow access, "
    "or a resource-based policy explicitly denies access"
)
THIS_RESOURCE = "this resource"
CIPHERTEXT_RESOURCE = "the resource associated with this ciphertext"


def unseen(principal: str, action: str, subject: str = THIS_RESOURCE) -> tuple[str, str]:
    """AWS's AccessDeniedException for `principal` doing `action` on another account's key it may not use."""
    return ("AccessDeniedException", f"User: {principal} is not authorized to perform: {action} on {subject} {UNSEEN}")


def admin(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def user_client(server: TrentServer, account: str, name: str, tag: str) -> Any:
    """Create user `name` in `account` with an access key whose id and secret carry `tag`; a boto3 client for it."""
    admin(server.data_dir, "create-user", "--account-id", account, name)
    key_id, secret = f"AKIA{tag.upper():0<6}{name.upper():0<10}", f"{tag}-{name}-secret-0001"
    created = json.loads(
        admin(
            server.data_dir,
            "create-access-key",
            "--account-id",
            account,
            "--user",
            name,
            "--access-key-id",
            key_id,
            "--secret-access-key",
            secret,
            "--json",
        ).stdout
    )
    assert created["Principal"] == f"arn:aws:iam::{account}:user/{name}"
    return kms_client(server.endpoint, access_key=key_id, secret=secret)
