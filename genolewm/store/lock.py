"""One build per run dir: an advisory lock held for the life of the build.

The lock is ``flock`` on ``<run dir>/.genolewm.lock``, which names the
process holding it. The kernel releases it when that process ends, however
it ends, so a killed build never blocks the next one. A second claim from
the process that already holds it (the command's early check, then the
build itself) is the same claim.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import InputError

LOCK_NAME = ".genolewm.lock"
PUBLISHED = ("windows", "tuples", "arrays", "config.yaml", "README.md", "manifest.json")


def finished(run_dir: Path) -> bool:
    return (run_dir / "manifest.json").is_file()


class RunDirLock:
    """The claim of one build on ``run_dir``; raises `InputError` if another build holds it."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"{self.run_dir}: cannot create the run dir's lock ({exc.strerror}); "
                             "choose a writable hydra.run.dir") from exc
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip()
            os.close(self.fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or holder != str(os.getpid()):
                raise InputError(f"{self.run_dir}: another build (process {holder or '?'}) is writing this run "
                                 "dir; choose a new hydra.run.dir") from exc
            self.fd = None  # this process already holds it
            return
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def claim(run_dir: str | os.PathLike, overwrite: bool = False) -> RunDirLock:
    """Lock ``run_dir`` for one build; a dir holding a finished run is refused unless ``overwrite``.

    Checked before anything is written into the dir.
    """
    run_dir = Path(run_dir)
    if finished(run_dir) and not overwrite:
        raise InputError(f"{run_dir} holds a finished run; choose a new hydra.run.dir, or pass overwrite=true "
                         "to replace it when the new build completes")
    return RunDirLock(run_dir)
