"""Logging helpers: progress lines where no progress bar can show, and records meant for the log file only.

Library modules log with ``logging.getLogger(__name__)``; the commands'
Hydra job log (``conf/hydra/job_logging/genolewm.yaml``) shows the summary
and warnings on the console and keeps everything in ``<run dir>/build.log``.
"""

from __future__ import annotations

import logging
import time

LOG_ONLY = {"log_only": True}  # extra= for a record the console already shows another way (stderr)


class ConsoleFilter(logging.Filter):
    """Keeps records marked ``log_only`` off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "log_only", False)


class Progress:
    """Logs ``done of total`` every ``every_s`` seconds: progress for runs with no terminal (a bar shows otherwise)."""

    def __init__(self, log: logging.Logger, what: str, total: int, every_s: float = 10.0) -> None:
        self.log, self.what, self.total, self.every_s = log, what, total, every_s
        self.done = 0
        self.last = time.monotonic()

    def update(self, n: int, detail: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            self.log.info("%s: %d of %d%s%s", self.what, self.done, self.total, share, detail)
