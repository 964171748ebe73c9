"""Group commit for the HTTP ingest: concurrent requests share one validated transaction.

Each batch costs a fixed ~50 ms to plan and commit whatever its size, so one request at a
time would cap a server near 10,000 events/s with batches of 500. A single writer thread
instead takes every request waiting (up to ``max_records``), ingests them as one batch, and
hands each request its own part of the outcome: its accepted, duplicate and quarantined
counts, and its rejected records by index. All requests of a group commit together or fail
together, so each request is still all in or all out.

A group holds the requests of one key only: the batch records who sent it (``actor``), and what
a batch may do to identities depends on its sender (``trusted``), so requests of different keys
never share a batch.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from portrait.campaigns.journeys import IngestJourneys
from portrait.store.loader import BatchResult, Rejection
from portrait.workspace import Workspace


@dataclass
class RequestOutcome:
    batch_id: str
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class _Pending:
    kind: str
    lines: list[str]
    future: Future
    actor: str | None = None
    trusted: bool = True

    def same_batch(self, other: _Pending) -> bool:
        return (self.kind, self.actor, self.trusted) == (other.kind, other.actor, other.trusted)


def split_outcome(result: BatchResult, sizes: list[int]) -> list[RequestOutcome]:
    """Cut a combined batch's outcome back into one per request (``sizes`` in order)."""
    accepted = sorted(result.accepted_rows or [])
    rejections = sorted(result.rejections, key=lambda r: r.index)
    out, start, ai, ri = [], 0, 0, 0
    for size in sizes:
        end = start + size
        n_acc = 0
        while ai < len(accepted) and accepted[ai] < end:
            n_acc, ai = n_acc + 1, ai + 1
        mine = []
        while ri < len(rejections) and rejections[ri].index < end:
            r = rejections[ri]
            mine.append(Rejection(r.index - start, r.reason_code, r.detail))
            ri += 1
        out.append(
            RequestOutcome(result.batch_id, size, n_acc, size - n_acc - len(mine), len(mine), mine)
        )
        start = end
    return out


class GroupCommitter:
    """One writer thread that ingests waiting requests together."""

    def __init__(
        self, workspace: Workspace, max_records: int = 20_000, linger: float = 0.02
    ) -> None:
        self.workspace = workspace
        self.max_records = max_records
        self.linger = linger
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        # cart journeys run in a worker of their own, so no ingest response waits for them
        self.journeys = IngestJourneys(workspace)
        workspace.on_events_committed = self.journeys.kick
        self._thread = threading.Thread(target=self._run, name="portrait-ingest", daemon=True)
        self._thread.start()

    def submit(
        self, kind: str, lines: list[str], actor: str | None = None, trusted: bool = True
    ) -> Future:
        """Queue a request of ``actor`` (recorded on its batch); ``trusted``: whether its user
        phones may link persons (see ``identity.auto_merge``)."""
        fut: Future = Future()
        self._queue.put(_Pending(kind, lines, fut, actor, trusted))
        return fut

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self.workspace.on_events_committed == self.journeys.kick:
            self.workspace.on_events_committed = None
        self.journeys.close()

    def _run(self) -> None:
        carry: _Pending | None = None
        while True:
            first = carry or self._queue.get()
            carry = None
            if first is None:
                return
            group, n = [first], len(first.lines)
            # Linger briefly for more requests: a commit costs ~50 ms whatever its size.
            deadline = time.monotonic() + self.linger
            while n < self.max_records:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None or not nxt.same_batch(first):
                    if nxt is None:
                        self._queue.put(None)  # finish this group, then stop
                    else:
                        carry = nxt
                    break
                group.append(nxt)
                n += len(nxt.lines)
            self._ingest(group)

    def _ingest(self, group: list[_Pending]) -> None:
        lines = [line for p in group for line in p.lines]
        try:
            result = self.workspace.ingest_json_lines(
                lines,
                group[0].kind,
                keep_rejections=len(lines) + 1,
                want_accepted_rows=True,
                actor=group[0].actor,
                trusted=group[0].trusted,
            )
        except BaseException as e:  # every waiting request learns of the failure
            for p in group:
                p.future.set_exception(e)
            return
        for p, outcome in zip(
            group, split_outcome(result, [len(p.lines) for p in group]), strict=True
        ):
            p.future.set_result(outcome)
