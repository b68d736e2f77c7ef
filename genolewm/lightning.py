"""A Lightning ``LightningDataModule`` over finished runs (``pip install genolewm[lightning]``).

Imported only by those who use it, so genolewm itself never needs Lightning.
In a Lightning + Hydra project (the lightning-hydra-template's
``configs/data/``), one file plugs runs in:

```yaml
_target_: genolewm.lightning.RunDataModule
train: /data/runs/train          # run dirs, or the job dirs of a sharded sweep
val: /data/runs/val              # e.g. built with split=val
batch_size: 64
```

Each loader reads a `RunDataset`, which yields whole
batches and shares shards out across distributed ranks and DataLoader
workers itself, so Lightning's own samplers are not used. The training set
is shuffled per epoch: the module sets the dataset's epoch from the
trainer's before each epoch is read.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from .dataset import RunDataset
from .errors import ContractError

Runs = str | Sequence[str] | None


class _EpochLoader(DataLoader):
    """A DataLoader that sets its dataset's epoch before each pass (Lightning sets only samplers'): the
    trainer's epoch when ``trainer_epoch()`` gives one, otherwise the number of passes made so far."""

    def __init__(self, dataset: RunDataset, trainer_epoch: Callable[[], int | None], **kwargs) -> None:
        super().__init__(dataset, batch_size=None, **kwargs)
        self._trainer_epoch, self._passes = trainer_epoch, 0

    def __iter__(self) -> Iterator:
        epoch = self._trainer_epoch()
        self.dataset.set_epoch(self._passes if epoch is None else epoch)
        self._passes += 1
        return super().__iter__()


class RunDataModule(pl.LightningDataModule):
    """Train, validation and test loaders over run dirs (each a path, a list of paths, or None).

    ``batch_size``, ``max_edits``, ``shuffle_buffer`` and ``seed`` are
    `RunDataset`'s; only ``train`` is shuffled.
    ``num_workers`` and ``pin_memory`` are the DataLoaders'.
    """

    def __init__(self, train: Runs = None, val: Runs = None, test: Runs = None, *, batch_size: int = 64,
                 max_edits: int | None = None, num_workers: int = 0, pin_memory: bool = False, seed: int = 0,
                 shuffle_buffer: int = 4096) -> None:
        super().__init__()
        if train is None and val is None and test is None:
            raise ContractError("RunDataModule: give at least one of train, val, test (run dirs)")
        self.save_hyperparameters()
        self.runs = {"train": train, "val": val, "test": test}
        self.datasets: dict[str, RunDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for split, runs in self.runs.items():
            if runs is not None and split not in self.datasets:
                self.datasets[split] = RunDataset(
                    runs, batch_size=self.hparams.batch_size, max_edits=self.hparams.max_edits,
                    shuffle=split == "train", seed=self.hparams.seed, shuffle_buffer=self.hparams.shuffle_buffer)

    def _loader(self, split: str) -> DataLoader:
        if split not in self.datasets:
            raise ContractError(f"RunDataModule: no {split} runs were given ({split}=<run dir>)")
        return _EpochLoader(self.datasets[split], self._epoch, num_workers=self.hparams.num_workers,
                            pin_memory=self.hparams.pin_memory)

    def _epoch(self) -> int | None:
        return None if self.trainer is None else self.trainer.current_epoch

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
