"""A dev server's `wrap` (the post-reset cache drop, app/devmode.py) runs before the XKS proxy API's handler
as before the KMS API's, so an XKS request after a reset sees no cache of what the ids named before it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from trent.app.serving import site_for
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.auth.xks import XksAuthenticator
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.protocol.awsjson.front import AwsJsonFront
from trent.protocol.xks.front import XksFront
from trent.rootoftrust.software import SoftwareRoot
from trent.server.types import Answer, Handler, Request
from trent.store.sqlite import SqliteStore


def test_the_wrap_is_around_the_xks_handler_too() -> None:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    deps = Deps(SqliteStore(":memory:"), root, Keyring(root), SqliteAuditLog(":memory:", os.urandom(32)))
    wrapped: list[Handler] = []

    def wrap(handler: Handler) -> Handler:
        def checked(request: Request) -> Answer:
            return handler(request)

        wrapped.append(checked)
        return checked

    now = lambda: datetime.now(UTC)  # noqa: E731
    front = AwsJsonFront(deps, Authenticator(deps.store, root), now)
    site = site_for(front, deps, wrap=wrap, xks=XksFront(deps, XksAuthenticator(root), now))
    assert site.routes[("POST", "/")] in wrapped
    assert list(site.patterns.values()) and all(handler in wrapped for handler in site.patterns.values())
