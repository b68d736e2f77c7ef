"""Logging helpers: progress lines where no progress bar can show, and records meant for the log file only.

Library modules log with ``logging.getLogger(__name__)``; the commands'
Hydra job log (``conf/hydra/job_logging/genolewm.yaml``) shows the summary
and warnings on the console and keeps everything in ``<run dir>/build.log``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

LOG_ONLY = {"log_only": True}  # extra= for a record the console already shows another way (stderr)


class ConsoleFilter(logging.Filter):
    """Keeps records marked ``log_only`` off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "log_only", False)


def command_logging() -> None:
    """Logging for a command without Hydra's job log (audit, report): INFO records as plain lines on stderr,
    where its progress lines go when no terminal shows a bar."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


PROGRESS_EVERY_S = 10.0  # a progress line this often when no terminal shows a bar


class Progress:
    """Logs ``done of total`` with the rate and the time left every ``every_s`` seconds: progress for runs
    with no terminal (a bar shows otherwise). ``scale`` and ``unit`` say how counts are shown."""

    def __init__(self, log: logging.Logger, what: str, total: int, every_s: float = PROGRESS_EVERY_S,
                 scale: float = 1.0, unit: str = "") -> None:
        self.log, self.what, self.total, self.every_s = log, what, total, every_s
        self.scale, self.unit = scale, unit
        self.done = 0
        self.started = self.last = time.monotonic()

    def update(self, n: int, detail: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            rate = self.done / max(now - self.started, 1e-9)
            left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 and self.total else ""
            unit = " " + _PREFIXES.get(self.scale, "") + self.unit if self.unit else ""
            self.log.info("%s: %s of %s%s%s, %s%s/s%s", self.what, self._show(self.done), self._show(self.total),
                          unit, share, self._show(rate), unit, left + detail)

    def _show(self, n: float) -> str:
        return f"{n / self.scale:.0f}" if self.scale == 1 else f"{n / self.scale:.1f}"


_PREFIXES = {1e3: "k", 1e6: "M", 1e9: "G"}


@contextmanager
def progress(log: logging.Logger, enabled: bool, what: str, total: int, unit: str = "",
             scale: float = 1.0) -> Iterator[Callable[[int, str], None]]:
    """``update(n, detail)`` adds ``n`` done: a bar with rate and ETA on a terminal; without one, a log
    line every `PROGRESS_EVERY_S` seconds."""
    if not enabled:
        yield lambda n, detail="": None
    elif sys.stderr.isatty():
        from tqdm import tqdm  # imported only when a terminal shows the bar

        with tqdm(total=total, unit=unit or "it", unit_scale=scale != 1, desc=what) as bar:
            def update(n: int, detail: str = "") -> None:
                bar.update(n)
                if detail:
                    bar.set_postfix_str(detail.lstrip(", "), refresh=False)

            yield update
    else:
        yield Progress(log, what, total, PROGRESS_EVERY_S, scale, unit).update
