"""Where a run came from: package and library versions, the checkout's commit, the command, host and times."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

LIBRARIES = ("pysam", "pyarrow", "hydra-core", "omegaconf", "numpy")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None  # an installed package, not a checkout
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(overrides: list[str], started: str) -> dict:
    """The manifest's ``provenance``; ``started`` is the build's start (UTC, ISO 8601)."""
    from pysam.version import __htslib_version__

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "genolewm": _version("genolewm"),
        "git": {"commit": commit, "dirty": bool(status)} if commit else None,
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "overrides": list(overrides),
        "started_utc": started,
        "finished_utc": utc_now(),
        "host": socket.gethostname(),
        "versions": {"python": platform.python_version(), "htslib": __htslib_version__,
                     **{name: _version(name) for name in LIBRARIES}},
    }
