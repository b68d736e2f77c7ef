"""The Hydra callback that claims a run dir before Hydra writes into it.

Hydra writes ``.hydra/`` and opens the job log before the build starts; a
second build into a dir that is being built, or that holds a finished run,
must fail before that, changing no byte of the dir. The claim (a lock held
until the process ends; see `genolewm.store.lock`) is taken here for
single runs. A multirun refuses a sweep dir that already holds one; its
jobs claim their own dirs when they build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .errors import Abort, GenolewmError, InputError
from .store.lock import RunDirLock, claim


class RunDirGuard(Callback):
    def __init__(self) -> None:
        self.lock: RunDirLock | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self.lock = claim(Path(config.hydra.run.dir), bool(config.get("overwrite", False)))
        except GenolewmError as exc:
            raise Abort(exc) from exc

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if (sweep_dir / "multirun.yaml").exists() and not config.get("overwrite", False):
            raise Abort(InputError(f"{sweep_dir} holds a sweep already; choose a new hydra.sweep.dir, or "
                                         "pass overwrite=true to rebuild its jobs"))
