"""One thread per process for every call into a PKCS#11 module, each call bounded by a timeout.

python-pkcs11 initialises a module with C_Initialize(NULL), which turns SoftHSM2's locking off, and releases
the GIL around each call: two threads calling one module crash the process (docs/decisions/0013). So every
call a process makes goes through one thread, which runs them one at a time. A caller waits at most `timeout`
seconds and then gets RootUnavailable, never a hang; while a call has been running longer than that (an HSM
that stopped answering), new calls fail at once instead of queueing behind it.

Threads do not survive fork, and a forked child may inherit the queue's lock held: a child makes a thread and
queue of its own (an at-fork hook, and a pid check besides).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from trent.rootoftrust.base import RootUnavailable

T = TypeVar("T")
_Item = tuple["Future[Any]", Callable[[], Any]]
_ALL: weakref.WeakSet[HsmThread] = weakref.WeakSet()


class HsmThread:
    """Runs callables on one thread of this process, in order; `run` waits for the result (or the timeout)."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._forget()
        _ALL.add(self)

    def __repr__(self) -> str:
        return f"HsmThread({self.name!r}, timeout={self.timeout:g})"

    def _forget(self) -> None:
        """No thread yet in this process (at creation, and in a forked child)."""
        self._lock = threading.Lock()
        self._pid = -1
        self._queue: queue.SimpleQueue[_Item | None] | None = None
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None

    def run(self, call: Callable[[], T]) -> T:
        jobs = self._jobs()
        started = self._busy_since
        if started is not None and time.monotonic() - started > self.timeout:
            raise RootUnavailable(f"the HSM has not answered a call for {time.monotonic() - started:.0f} s")
        future: Future[T] = Future()
        jobs.put((future, call))
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()  # if it has not started, it never will
            raise RootUnavailable(f"the HSM did not answer within {self.timeout:g} s") from None

    def _jobs(self) -> queue.SimpleQueue[_Item | None]:
        if self._pid != os.getpid():
            self._forget()  # a fork that the at-fork hook did not see (it always should)
        with self._lock:
            if self._queue is None:
                self._pid = os.getpid()
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._serve, args=(self._queue,), name=self.name, daemon=True)
                self._thread.start()
            return self._queue

    def _serve(self, jobs: queue.SimpleQueue[_Item | None]) -> None:
        while (item := jobs.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up waiting before it started
            self._busy_since = time.monotonic()
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._busy_since = None
                del future, call, item

    def stop(self) -> None:
        """Let the thread end once the calls queued before this one have run (it is a daemon either way)."""
        with self._lock:
            jobs, thread = self._queue, self._thread
            self._queue = self._thread = None
        if jobs is not None and self._pid == os.getpid():
            jobs.put(None)
            if thread is not None and thread is not threading.current_thread():
                thread.join(self.timeout)


def _after_fork_in_child() -> None:
    for hsm in list(_ALL):
        hsm._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
