"""The search threads: one pool per process, a working one in a forked child too."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sciceapp.engine import parallel


def test_one_pool_per_process_reused_across_calls():
    assert parallel.pool() is parallel.pool()
    assert sorted(parallel.pool().map(lambda x: x * x, range(5))) == [0, 1, 4, 9, 16]
    assert parallel.cores() >= 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_threads_of_its_own():
    import threading

    workers = parallel.pool()._max_workers
    barrier = threading.Barrier(workers)
    list(parallel.pool().map(lambda _: barrier.wait(), range(workers)))  # all threads started
    pid = os.fork()
    if pid == 0:  # the child: its inherited pool has no threads; a hang would time out
        try:
            ok = list(parallel.pool().map(lambda x: x + 1, range(3))) == [1, 2, 3]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while (found := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if found[0] == 0:  # the child hangs: its pool never runs the work
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's pool did not run its work within 60 s")
    assert os.waitstatus_to_exitcode(found[1]) == 0
