"""A run dir built under ``.partial/`` and published only when complete."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

from ..errors import InputError

FINISHED = ("config.yaml", "manifest.json")


class Staging:
    """Stages a run's shard directories under ``.partial/``; ``commit`` moves them into place, manifest last."""

    def __init__(self, run_dir: str | os.PathLike, layout: Sequence[str]) -> None:
        self.run_dir = Path(run_dir)
        self.layout = tuple(layout)
        for name in (*self.layout, *FINISHED):
            if (self.run_dir / name).exists():
                raise InputError(
                    f"{self.run_dir / name} exists: this run dir already holds a build; "
                    "choose a new hydra.run.dir"
                )
        self.staging = self.run_dir / ".partial"
        shutil.rmtree(self.staging, ignore_errors=True)
        for sub in self.layout:
            (self.staging / sub).mkdir(parents=True)

    def commit(self, manifest: dict, config_yaml: str) -> Path:
        """Move the shards and the config into place, then write the manifest."""
        (self.staging / "config.yaml").write_text(config_yaml)
        for name in (*self.layout, "config.yaml"):
            os.replace(self.staging / name, self.run_dir / name)
        self.staging.rmdir()
        path = self.run_dir / "manifest.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
