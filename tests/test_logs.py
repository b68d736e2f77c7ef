"""Logging helpers: progress lines for runs without a terminal, records kept off the console."""

import logging

from genolewm.logs import ConsoleFilter, Progress


def test_progress_lines_without_a_terminal(caplog):
    progress = Progress(logging.getLogger("genolewm.test"), "build: windows", 100, every_s=0.0)
    with caplog.at_level(logging.INFO, logger="genolewm.test"):
        progress.update(40, ", 320 tuples")
    assert caplog.messages == ["build: windows: 40 of 100 (40%), 320 tuples"]


def test_log_only_records_stay_off_the_console():
    keep = logging.LogRecord("x", logging.ERROR, __file__, 1, "shown", None, None)
    hidden = logging.LogRecord("x", logging.ERROR, __file__, 1, "file only", None, None)
    hidden.log_only = True
    assert ConsoleFilter().filter(keep) and not ConsoleFilter().filter(hidden)
