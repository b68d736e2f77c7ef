"""Logging helpers: progress lines for runs without a terminal, records kept off the console."""

import io
import logging
import re

import genolewm.logs
from genolewm.logs import ConsoleFilter, Progress, progress


def test_progress_lines_without_a_terminal(caplog):
    lines = Progress(logging.getLogger("genolewm.test"), "build: windows", 100, every_s=0.0)
    with caplog.at_level(logging.INFO, logger="genolewm.test"):
        lines.update(40, ", 320 tuples")
    assert len(caplog.messages) == 1
    assert re.fullmatch(r"build: windows: 40 of 100 \(40%\), \d+/s, \d+ s left, 320 tuples", caplog.messages[0])


def test_progress_is_a_bar_on_a_terminal_and_log_lines_off_one(monkeypatch, caplog):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log = logging.getLogger("genolewm.test")
    monkeypatch.setattr(genolewm.logs, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr("sys.stderr", Terminal())
    with caplog.at_level(logging.INFO, logger="genolewm.test"):
        with progress(log, True, "prepare", 2 << 20, "B", 1e6) as update:
            update(1 << 20, ", 5 records")
        bar = __import__("sys").stderr.getvalue()
        assert "prepare:  50%" in bar and "B/s" in bar and "5 records" in bar and not caplog.messages
        monkeypatch.setattr("sys.stderr", io.StringIO())
        with progress(log, True, "prepare", 2 << 20, "B", 1e6) as update:
            update(1 << 20)
    assert re.fullmatch(r"prepare: 1\.0 of 2\.1 MB \(50%\), [\d.]+ MB/s, \d+ s left", caplog.messages[0])


def test_log_only_records_stay_off_the_console():
    keep = logging.LogRecord("x", logging.ERROR, __file__, 1, "shown", None, None)
    hidden = logging.LogRecord("x", logging.ERROR, __file__, 1, "file only", None, None)
    hidden.log_only = True
    assert ConsoleFilter().filter(keep) and not ConsoleFilter().filter(hidden)


def test_a_build_without_a_terminal_logs_its_progress(compose_cfg, tmp_path, monkeypatch, caplog):
    import genolewm.logs
    from genolewm.build import run, summary

    monkeypatch.setattr(genolewm.logs, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="genolewm.store.run"):
        manifest = run(compose_cfg(["output.windows_per_shard=20"]), str(tmp_path), progress=True)
    lines = [m for m in caplog.messages if m.startswith("build: windows: ")]
    assert len(lines) == manifest["shards"] and lines[-1].startswith(f"build: windows: {manifest['windows']['seen']} of ")
    text = summary(str(tmp_path), manifest)
    assert all(len(line) <= 100 for line in text.splitlines()) and "  skipped   " in text
