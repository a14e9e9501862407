"""One heavy job at a time per server, and a queue message for the visitors who wait (no
Streamlit here: app.components.heavy shows the message on a page).

Visitors share one demo server, and Streamlit runs every browser session as a thread of one
process. An embedded-LLM draft (benchmarks/explain_report.py on the 2-core demo machine: 17 s
to load SmolLM2 once, 7.8 s per draft) or an Integrated Gradients map (32 backward passes:
0.4 s for a tiny ViT, far more for a larger checkpoint) keeps the cores busy; two
at once each take about twice as long, and slow every cheap interaction of every other
visitor meanwhile. So heavy work takes a server-wide slot (``heavy_job``), and whoever finds
it taken sees "Another visitor's <job> is running; yours starts when it finishes — N
waiting" instead of a page that hangs.

Index builds run as separate processes (app/jobs/index_build.py launches ``python -m eclip.index
build`` and records it in RUNS/.app/): a live one holds the slot too, found through those
launch records, so a build and an in-process job never run together either.

The slot is not re-entrant: a job must not ask for it again inside its own block.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from app.core import paths
from app.jobs import index_build

QUEUE_MESSAGE = "Another visitor's {job} is running; yours starts when it finishes — {waiting} waiting"
INDEX_BUILD = "index build"
# How often a waiter looks again without being woken: for a build in another process (which
# cannot wake it) and to give Streamlit a chance to stop the wait of a visitor who left.
POLL_S = 0.5


def queue_message(job: str, waiting: int) -> str:
    return QUEUE_MESSAGE.format(job=job, waiting=waiting)


class _Ticket:
    """One waiter's place in the queue (compared by identity)."""

    def __init__(self, job: str):
        self.job = job


class HeavySlot:
    """A first-come-first-served slot for one heavy job at a time, shared by threads.

    ``busy_elsewhere`` names a job holding the slot from outside this process (None when
    there is none); it is asked again every ``poll_s`` seconds while someone waits."""

    def __init__(self, busy_elsewhere: Callable[[], str | None] = lambda: None,
                 poll_s: float = POLL_S):
        self._busy_elsewhere, self.poll_s = busy_elsewhere, poll_s
        self._cond = threading.Condition()
        self._queue: deque[_Ticket] = deque()
        self._holder: str | None = None

    @property
    def holder(self) -> str | None:
        with self._cond:
            return self._holder

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    @contextlib.contextmanager
    def hold(self, job: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Run the block once the slot is free, alone. While it waits, ``on_wait`` gets the
        queue message at every look (it may raise to give up its place, as Streamlit does
        when the visitor leaves or changes a widget). The slot is freed however the block
        ends."""
        ticket = _Ticket(job)
        with self._cond:
            self._queue.append(ticket)
            try:
                self._wait_turn(ticket, on_wait)
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the one behind may now be first
                raise
            self._queue.popleft()
            self._holder = job
        try:
            yield
        finally:
            with self._cond:
                self._holder = None
                self._cond.notify_all()

    def _wait_turn(self, ticket: _Ticket, on_wait: Callable[[str], None] | None) -> None:
        """Called and returns with ``_cond`` held; the call back runs without it."""
        call_back = True
        while (busy := self._blocker(ticket)) is not None:
            if call_back and on_wait is not None:
                message = queue_message(busy, len(self._queue))
                self._cond.release()
                try:
                    on_wait(message)
                finally:
                    self._cond.acquire()
                call_back = False
                continue  # look again before sleeping: the slot may have been freed meanwhile
            self._cond.wait(self.poll_s)
            call_back = True

    def _blocker(self, ticket: _Ticket) -> str | None:
        """The job this ticket waits for, or None when its turn has come."""
        if self._holder is not None:
            return self._holder
        if self._queue[0] is not ticket:
            return self._queue[0].job  # free, but an earlier waiter takes it first
        return self._busy_elsewhere()


# --------------------------------------------------------------------------- index builds
def live_index_build(root: str | Path | None = None) -> str | None:
    """INDEX_BUILD while a build recorded under ``root`` (the runs folder) is alive."""
    root = Path(root) if root is not None else paths.runs_root()
    return INDEX_BUILD if index_build.running(root) else None


# --------------------------------------------------------------------------- the server's slot
SLOT = HeavySlot(busy_elsewhere=live_index_build)  # one per server: sessions are its threads
