"""`trent serve --dev`: a throwaway server for test suites and laptops (docs/dev-mode.md).

What differs from `trent serve`, and only that: any credentials are accepted (auth/principals.py
DevAuthenticator), the clock is the test clock every process shares (trent/devstate.py), and the /_trent/
endpoints (protocol/devtools.py) reset the server to its start state and move the clock. Policies, grants,
key states and the audit trail are as real as ever.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trent.auth.principals import Authenticator, DevAuthenticator
from trent.config import Settings, default_data_dir
from trent.devstate import FILE_NAME, DevState
from trent.kms.ids import AccountId
from trent.kms.principals import DEFAULT_ACCOUNT
from trent.ops import principals as principal_ops
from trent.ops import reset as reset_ops
from trent.ops.deps import Deps
from trent.ops.reset import SeedHook
from trent.protocol import devtools
from trent.server.types import Answer, Handler, Request


def state_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


@dataclass(frozen=True)
class DevServer:
    """One process's dev-mode parts: its deps on the test clock, its authenticator, its /_trent/ routes."""

    deps: Deps
    authenticator: DevAuthenticator
    routes: Mapping[tuple[str, str], Handler]
    fresh: Callable[[Handler], Handler]  # wraps a handler: caches dropped first if a reset happened since


def dev_server(settings: Settings, deps: Deps, seed_hook: SeedHook, run_jobs: Callable[[Deps], None]) -> DevServer:
    state = DevState(state_path(settings))
    deps = replace(deps, clock=state.clock())
    account = AccountId(settings.account_id or DEFAULT_ACCOUNT)
    known: set[AccountId] = set()  # accounts seen to exist since the last reset: no read per request
    fresh = _Freshness(state, deps, known.clear)

    def ensure_account(acct: AccountId) -> None:
        if acct not in known:
            if deps.store.get_account(acct) is None:
                principal_ops.create_account(deps, acct)
            known.add(acct)

    def reset() -> None:
        state.reset()  # the clock back at real time first, so the seed is made at it
        reset_ops.reset(deps, seed_hook)
        state.reset()  # every process drops what it cached while the store was being emptied
        fresh.check()

    tools = devtools.DevTools(state, reset, lambda: fresh(lambda: run_jobs(deps)), deps.clock)
    routes: dict[tuple[str, str], Handler] = {
        ("POST", devtools.RESET): tools.reset,
        ("GET", devtools.CLOCK): tools.clock,
        ("POST", devtools.CLOCK): tools.advance,
    }
    real = Authenticator(deps.store, deps.root_of_trust)
    return DevServer(deps, DevAuthenticator(real, deps.store, account, ensure_account), routes, fresh.wrap)


class _Freshness:
    """Before a request (or a job), this process's caches are dropped if the reset generation moved."""

    def __init__(self, state: DevState, deps: Deps, also: Callable[[], None] = lambda: None) -> None:
        self._state = state
        self._deps = deps
        self._also = also
        self.seen = state.generation

    def check(self) -> None:
        generation = self._state.generation
        if generation != self.seen:
            reset_ops.forget_cached(self._deps)
            self._also()
            self.seen = generation

    def __call__(self, work: Callable[[], None]) -> None:
        self.check()
        work()

    def wrap(self, handler: Handler) -> Handler:
        def fresh(request: Request) -> Answer:
            self.check()
            return handler(request)

        return fresh


def dev_jobs(settings: Settings, deps: Deps, run_jobs: Callable[[Deps], None]) -> Callable[[], None]:
    """The supervisor's background jobs on the test clock, after dropping caches a reset made stale."""
    state = DevState(state_path(settings))
    deps = replace(deps, clock=state.clock())
    fresh = _Freshness(state, deps)
    return lambda: fresh(lambda: run_jobs(deps))


def start_state(settings: Settings) -> DevState:
    """A fresh state file for a starting dev server: the clock at real time."""
    return DevState.create(state_path(settings))


def request_reset(endpoint: str, timeout: float = 10.0) -> dict[str, Any]:
    """`trent admin reset`: POST /_trent/reset to a running dev server; its JSON answer. OSError with a
    readable message when there is no dev server there."""
    import urllib.error  # here: the server never needs urllib.request (http.client, email: ~15 ms at start)
    import urllib.request

    url = endpoint.rstrip("/") + devtools.RESET
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=timeout) as answer:  # noqa: S310
            document: dict[str, Any] = json.loads(answer.read())
            return document
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise OSError(f"{endpoint} is not a dev server (trent serve --dev): it has no {devtools.RESET}") from None
        raise OSError(f"{url} answered {exc.code}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot reach {endpoint}: {exc.reason}") from None


@contextlib.contextmanager
def throwaway(settings: Settings) -> Iterator[Settings]:
    """A dev server's settings: with no data directory given, a fresh temporary one, removed when the server
    ends. Anything else is yielded unchanged."""
    if not settings.dev or settings.data_dir != default_data_dir():
        yield settings
        return
    data_dir = Path(tempfile.mkdtemp(prefix="trent-dev-"))
    try:
        yield replace(settings, data_dir=data_dir, durable=False)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


WARNING = (
    "*** trent serve --dev: AUTHENTICATION IS OFF. Any access key id and secret are accepted; this server is for "
    "tests and laptops, never for keys that matter. ***"
)


def announcement(endpoint: str, settings: Settings, throwaway_dir: bool) -> list[str]:
    """What a dev server prints once it listens: where, which credentials, how to reset."""
    kept = "removed at exit" if throwaway_dir else "kept"
    account = settings.account_id or DEFAULT_ACCOUNT
    return [
        f"Trent (dev mode) is listening on {endpoint}  (data directory: {settings.data_dir}, {kept})",
        WARNING,
        "Credentials: any. For example:",
        f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
        "AWS_DEFAULT_REGION=us-east-1",
        f"  (an access key id of 12 digits acts as the root of that account; any other as account {account}'s root)",
        f"Reset to the start state: curl -X POST {endpoint}{devtools.RESET}  or  trent admin reset --endpoint "
        f"{endpoint}",
        f"Test clock: curl {endpoint}{devtools.CLOCK} -d '{{\"advance_seconds\": 604800}}'",
    ]
