"""rootoftrust/hsm.py: every call on one thread, in order; bounded waits; a stuck call fails the next ones fast;
a forked child gets a thread of its own."""

from __future__ import annotations

import os
import threading
import time

import pytest

from trent.rootoftrust.base import RootUnavailable
from trent.rootoftrust.hsm import HsmThread


def test_calls_run_on_one_thread_in_order() -> None:
    hsm = HsmThread("test", timeout=5)
    seen: list[tuple[int, int]] = []

    def call(n: int) -> int:
        seen.append((n, threading.get_ident()))
        return n * 2

    results: list[int] = []
    callers = [threading.Thread(target=lambda n=n: results.append(hsm.run(lambda: call(n)))) for n in range(20)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert sorted(results) == [n * 2 for n in range(20)]
    assert len({ident for _, ident in seen}) == 1 and seen[0][1] != threading.get_ident()
    hsm.stop()


def test_an_exception_reaches_the_caller() -> None:
    hsm = HsmThread("test", timeout=5)
    with pytest.raises(ZeroDivisionError):
        hsm.run(lambda: 1 // 0)
    assert hsm.run(lambda: "still serving") == "still serving"


def test_a_call_that_does_not_return_in_time_fails_and_so_do_the_next_at_once() -> None:
    hsm = HsmThread("test", timeout=0.3)
    release = threading.Event()
    ran_late: list[str] = []

    started = time.monotonic()
    with pytest.raises(RootUnavailable, match="did not answer within 0.3 s"):
        hsm.run(lambda: release.wait(10))
    assert 0.25 < time.monotonic() - started < 2
    with pytest.raises(RootUnavailable):  # queued behind the stuck call: waits its own timeout, runs never
        hsm.run(lambda: ran_late.append("queued"))
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(RootUnavailable, match="has not answered a call for"):
        hsm.run(lambda: ran_late.append("fast"))
    assert time.monotonic() - started < 0.1
    release.set()
    deadline = time.monotonic() + 5
    while True:  # recovered once the stuck call returned
        try:
            assert hsm.run(lambda: "back") == "back"
            break
        except RootUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert ran_late == []  # the callers that gave up never had their calls run later


def test_a_forked_child_has_a_thread_of_its_own() -> None:
    hsm = HsmThread("test", timeout=5)
    parent_thread = hsm.run(threading.get_ident)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child_thread = hsm.run(threading.get_ident)
            code = 0 if child_thread != threading.get_ident() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert hsm.run(threading.get_ident) == parent_thread
