"""A run dir built under ``.partial/`` and published only when complete.

The manifest is written inside ``.partial/`` before anything is published,
so a full disk cannot leave shards without a manifest; publishing is then
renames only, manifest last. A dir whose build died leaves leftovers but no
manifest: the next build into it removes them first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from .lock import PUBLISHED, claim, finished


def write_error(path: Path, exc: OSError) -> InputError:
    """A failed write (a read-only dir, a full disk) as one line naming the path."""
    return InputError(f"{path}: {exc.strerror or exc}; nothing was published: free space or choose a writable "
                      "hydra.run.dir, then rerun")


class Staging:
    """Stages a run's shard directories under ``.partial/``; ``commit`` moves them into place, manifest last.

    With ``overwrite`` a finished run in the dir stays readable until the new
    one is published, then is replaced.
    """

    def __init__(self, run_dir: str | os.PathLike, layout: Sequence[str], overwrite: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.layout = tuple(layout)
        self.lock = claim(self.run_dir, overwrite)
        self.staging = self.run_dir / ".partial"
        self.replacing = finished(self.run_dir)
        # A build that died here left .partial/ (it goes last, after every publishing rename): only then
        # are published names without a manifest ours to remove; otherwise they are someone else's files.
        died_here = (self.staging).is_dir()
        strangers = [name for name in PUBLISHED if (self.run_dir / name).exists()]
        if strangers and not (self.replacing or died_here):
            self.lock.release()
            raise InputError(f"{self.run_dir} holds {', '.join(strangers)} but no genolewm run; choose a new "
                             "hydra.run.dir")
        try:
            names = (".partial", "manifest.json.tmp", *(() if self.replacing else PUBLISHED))
            for name in names:
                _remove(self.run_dir / name)
            for sub in self.layout:
                (self.staging / sub).mkdir(parents=True)
        except OSError as exc:
            self.abort()
            raise write_error(Path(exc.filename or self.staging), exc) from exc

    def commit(self, manifest: dict, config_yaml: str, card: str) -> Path:
        """Write the config, the dataset card and the manifest into staging, then move everything into
        place, the manifest last."""
        try:
            (self.staging / "config.yaml").write_text(config_yaml)
            (self.staging / "README.md").write_text(card)
            (self.staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            if self.replacing:
                old = self.run_dir / ".replaced"
                _remove(old)
                old.mkdir()
                for name in ("manifest.json", *PUBLISHED):  # the manifest first: the old run stops being finished
                    if (self.run_dir / name).exists():
                        os.replace(self.run_dir / name, old / name)
            for name in (*self.layout, "config.yaml", "README.md", "manifest.json"):
                os.replace(self.staging / name, self.run_dir / name)
            self.staging.rmdir()
            if self.replacing:
                _remove(self.run_dir / ".replaced")
        except OSError as exc:
            self.abort()
            raise write_error(Path(exc.filename or self.staging), exc) from exc
        self.lock.release()
        return self.run_dir / "manifest.json"

    def abort(self) -> None:
        _remove(self.staging)
        self.lock.release()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
