"""Retention on the REST server's schedule: once a day, when ``[retention]`` limits any class.

``portrait serve`` starts a ``RetentionSchedule`` (``api/app.py``'s lifespan): a worker thread
that checks every ``interval_s`` (an hour) whether a run is due and then applies retention as
``ws.privacy.retain()`` does, recorded in the audit log by the caller ``server:schedule``. The
last run is the audit log's latest ``privacy.retain`` entry, so a restarted server neither runs
again at once nor skips a day. ``tick`` is one check, callable directly (tests, a cron job).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from portrait.audit.context import AuditCaller, set_caller
from portrait.errors import ConflictError
from portrait.privacy.retention import RetentionReport

if TYPE_CHECKING:
    from portrait.workspace import Workspace

log = logging.getLogger(__name__)

PERIOD = timedelta(days=1)
SCHEDULER = AuditCaller("server:schedule", "admin", "schedule", "server", "retention schedule")


class RetentionSchedule:
    """Daily retention for a served workspace."""

    def __init__(self, ws: Workspace, interval_s: float = 3600.0) -> None:
        self.ws = ws
        self.interval_s = interval_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def last_run(self) -> datetime | None:
        """When retention last ran (by any surface), from the audit log."""
        found = self.ws.audit.entries(action="privacy.retain", limit=1)
        return found[0].at if found else None

    def due(self, now: datetime | None = None) -> bool:
        """Whether a scheduled run is due: a class has a limit, the schedule is daily and
        the last run is a day old (or there was none)."""
        settings = self.ws.settings.retention
        if not settings.any_set or settings.schedule != "daily":
            return False
        last = self.last_run()
        return last is None or (now or datetime.now(UTC)) - last >= PERIOD

    def tick(self, now: datetime | None = None) -> RetentionReport | None:
        """Run retention if it is due; its report, or None (not due, or a build holds the
        lock: the next check tries again)."""
        if not self.due(now):
            return None
        set_caller(SCHEDULER)  # this thread's entries name the schedule
        try:
            report = self.ws.privacy.retain()
        except ConflictError as e:
            log.info("scheduled retention postponed: %s", e)
            return None
        finally:
            set_caller(None)
        self.runs += 1
        log.info("scheduled retention: %s rows removed", report.rows)
        return report

    def start(self) -> None:
        """Check now, then every ``interval_s``, in a worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="portrait-retention", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # never let the worker die; the next check tries again
                log.warning("scheduled retention failed", exc_info=True)
            self._stop.wait(self.interval_s)
