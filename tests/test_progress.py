"""Progress: a bar with rate and ETA on a terminal, periodic log lines off one, for every long command."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from genolewm.demo import demo_path

# Runs a command's main with progress lines every update instead of every 10 s (the demo takes under one).
LAUNCH = """
import sys
import genolewm.logs
genolewm.logs.PROGRESS_EVERY_S = float(sys.argv[1])
module = __import__(sys.argv[2], fromlist=["main"])
sys.argv = [sys.argv[2]] + sys.argv[3:]
module.main()
"""


def command(tmp_path, name: str) -> tuple[str, list[str]]:
    """The module and arguments of ``name`` on the demo, writing under ``tmp_path``."""
    run_dir = tmp_path / "run"
    return {
        "build": ("genolewm.build", [f"hydra.run.dir={run_dir}"]),
        "prepare": ("genolewm.prepare", ["source=clinvar", f"input={demo_path('clinvar.vcf.gz')}",
                                         f"output={tmp_path / 'clinvar.prepared.vcf.gz'}",
                                         f"hydra.run.dir={tmp_path / 'prepare'}", f"work_dir={tmp_path / 'work'}"]),
        "audit": ("genolewm.audit", [str(run_dir)]),
        "report": ("genolewm.report", [str(run_dir)]),
    }[name]


def on_terminal(args: list[str], cwd) -> str:
    """What ``args`` writes to stdout and stderr when both are a terminal."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 40 rows, 160 columns
    process = subprocess.Popen(args, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL, cwd=cwd, close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


# What each command counts, as its bar and its log lines name it.
COUNTED = {"build": ("build: windows", "window"), "prepare": ("prepare", "B"),
           "audit": ("audit: tuples", "tuple"), "report": ("report: run", "tuple")}


@pytest.mark.slow
def test_every_long_command_shows_a_bar_on_a_terminal_and_log_lines_off_one(tmp_path):
    for mode in ("pipe", "terminal"):
        where = tmp_path / mode
        where.mkdir()
        for name in ("build", "prepare", "audit", "report"):
            module, args = command(where, name)
            launch = [sys.executable, "-c", LAUNCH, "0", module, *args]
            what, unit = COUNTED[name]
            if mode == "terminal":
                shown = on_terminal(launch, where)
                # tqdm's bar: the description, a percentage, the bar, done/total, [elapsed<left, rate]
                assert re.search(rf"{re.escape(what)}: +100%\|[^|]*\| *[\d.]+[kM]?/[\d.]+[kM]? "
                                 rf"\[[\d:]+<[\d:]+, +[\d.]+ ?[kM]?{unit}/s[,\]]", shown), (name, shown)
                assert not re.search(rf"{re.escape(what)}: [\d.]+ of ", shown), (name, shown)  # no log lines
            else:
                done = subprocess.run(launch, capture_output=True, text=True, cwd=where, timeout=300)
                assert done.returncode == 0, done.stderr
                shown = done.stdout + done.stderr
                assert "%|" not in shown, (name, shown)  # no bar where no one watches
                # the log line: done of total, the share, the rate and the time left
                assert re.search(rf"{re.escape(what)}: [\d.]+ of [\d.]+ ?[kM]?{unit} \(\d+%\), [\d.]+ ?[kM]?{unit}/s",
                                 shown), (name, shown)
