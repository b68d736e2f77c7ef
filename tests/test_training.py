"""Training from a run: the example model beats copying the window, and the Lightning DataModule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genolewm.build import run
from genolewm.dataset import RunDataset
from genolewm.errors import ContractError

from conftest import composed

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_world_model.py"


@pytest.fixture(scope="module")
def split_runs(tmp_path_factory):
    """The demo with chr8 held out: the training run and its held-out complement (split=val)."""
    root = tmp_path_factory.mktemp("training")
    for split in ("train", "val"):
        run(composed(["holdout=chr8", f"split={split}"]), str(root / split), progress=False)
    return root / "train", root / "val"


@pytest.mark.slow
def test_example_beats_the_copy_baseline_on_held_out_edits(split_runs, tmp_path):
    train, val = split_runs
    metrics_file = tmp_path / "metrics.json"
    done = subprocess.run([sys.executable, str(EXAMPLE), "--train", str(train), "--val", str(val),
                           "--metrics", str(metrics_file), "--device", "cpu"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(metrics_file.read_text())
    assert metrics["edited_positions"] > 100
    assert metrics["model_loss"] < metrics["copy_loss"], metrics
    assert metrics["model_accuracy"] > metrics["copy_accuracy"], metrics
    assert "copy baseline" in done.stderr


def test_edited_positions_are_the_positions_the_edits_name():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from train_world_model import edited_positions
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    batch = {"window": torch.zeros(2, 40, dtype=torch.uint8),
             "edit_pos": torch.tensor([[3, 30], [10, 0]]), "edit_mask": torch.tensor([[True, True], [True, False]]),
             "ref_mask": torch.zeros(2, 2, 16, dtype=torch.bool), "alt_mask": torch.zeros(2, 2, 16, dtype=torch.bool)}
    batch["ref_mask"][0, 0, :1] = batch["alt_mask"][0, 0, :1] = True      # SNV at 3
    batch["ref_mask"][0, 1, :1] = batch["alt_mask"][0, 1, :4] = True      # insertion of 3 after 30
    batch["ref_mask"][1, 0, :3] = batch["alt_mask"][1, 0, :1] = True      # deletion of 2 after 10
    batch["ref_mask"][1, 1, :1] = batch["alt_mask"][1, 1, :1] = True      # a padded slot names nothing
    mask = edited_positions(batch)
    assert mask[0].nonzero().flatten().tolist() == [3, 30, 31, 32, 33]
    assert mask[1].nonzero().flatten().tolist() == [10, 11, 12]


def _orders(loader) -> list[list[tuple[int, int]]]:
    return [list(zip(b["window_index"].tolist(), b["tuple_index"].tolist())) for b in loader]


def test_datamodule_from_one_config_node_gives_the_runs_batches(split_runs):
    pytest.importorskip("lightning")
    train, val = split_runs
    node = OmegaConf.create({"_target_": "genolewm.lightning.RunDataModule", "train": str(train), "val": str(val),
                             "batch_size": 32})
    module = instantiate(node)
    module.setup("fit")
    expected = _orders(RunDataset(str(val), batch_size=32))
    assert _orders(module.val_dataloader()) == expected == _orders(module.val_dataloader())
    loader = module.train_dataloader()  # each pass over one loader is the next epoch
    first, second = _orders(loader), _orders(loader)
    shuffled = RunDataset(str(train), batch_size=32, shuffle=True)
    shuffled.set_epoch(1)
    assert second == _orders(shuffled) and first != second
    assert sorted(sum(first, [])) == sorted(sum(second, []))
    with pytest.raises(ContractError, match="no test runs"):
        module.test_dataloader()
    with pytest.raises(ContractError, match="at least one"):
        type(module)()


def test_datamodule_trains_with_a_lightning_trainer_and_follows_its_epochs(split_runs):
    pl = pytest.importorskip("lightning.pytorch")
    from genolewm.lightning import RunDataModule

    train, val = split_runs
    seen: list[list[tuple[int, int]]] = []

    class Copy(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.zeros(5))

        def training_step(self, batch, index):
            if index == 0:
                seen.append([])
            seen[-1] += list(zip(batch["window_index"].tolist(), batch["tuple_index"].tolist()))
            target = batch["target"].long().flatten()
            return torch.nn.functional.cross_entropy(self.logits.expand(len(target), 5), target)

        def validation_step(self, batch, index):
            self.log("val_tuples", float(len(batch["window"])))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = RunDataModule(train=str(train), val=str(val), batch_size=64)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Copy(), datamodule=data)
    assert len(seen) == 2
    for epoch, order in enumerate(seen):
        reference = RunDataset(str(train), batch_size=64, shuffle=True)
        reference.set_epoch(epoch)
        assert order == sum(_orders(reference), [])
