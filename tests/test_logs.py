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


def test_a_build_without_a_terminal_logs_its_progress(compose_cfg, tmp_path, monkeypatch, caplog):
    import genolewm.store.run
    from genolewm.build import run, summary

    monkeypatch.setattr(genolewm.store.run, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="genolewm.store.run"):
        manifest = run(compose_cfg(["output.windows_per_shard=20"]), str(tmp_path), progress=True)
    lines = [m for m in caplog.messages if m.startswith("build: windows: ")]
    assert len(lines) == manifest["shards"] and lines[-1].startswith(f"build: windows: {manifest['windows']['seen']} of ")
    text = summary(str(tmp_path), manifest)
    assert all(len(line) <= 100 for line in text.splitlines()) and "  skipped   " in text
