"""Train a small world model on a genolewm run and compare it with copying the window.

The model reads a reference window and an action (the tuple's edits) and
predicts every base of the target window:

- a window encoder: base embeddings and dilated convolutions;
- an action encoder: each edit's type, position (``rel_pos``), REF and ALT
  bases, embedded per allele base and added at the window positions the edit
  names (``rel_pos`` + offset), so the convolutions see the edit in context;
- a head: per-position logits over A, C, G, T, N.

It is scored on the **edited positions** of a held-out run (``split=val``):
the window positions each edit names, ``rel_pos`` to ``rel_pos +
max(len(REF), len(ALT)) - 1``. The baseline copies the reference window with
the best single confidence ``q`` (the copy's accuracy there, the rest spread
over the other four tokens), which is the lowest cross-entropy any
copy-the-window predictor reaches.

    genolewm-build holdout=chr8 hydra.run.dir=outputs/train
    genolewm-build holdout=chr8 split=val hydra.run.dir=outputs/val
    python examples/train_world_model.py --train outputs/train --val outputs/val

It runs on the GPU when one is present (``--device`` to choose).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from genolewm.dataset import RunDataset
from genolewm.types import MAX_ALLELE_BP

log = logging.getLogger("train_world_model")
TOKENS = 5  # A C G T N


class WorldModel(nn.Module):
    """Window encoder + action encoder -> per-position logits of the target window."""

    def __init__(self, dim: int = 32, layers: int = 4, edit_types: int = 5) -> None:
        super().__init__()
        self.bases = nn.Embedding(TOKENS, dim)
        self.edit_type = nn.Embedding(edit_types, dim)
        self.ref = nn.Embedding(TOKENS, dim)
        self.alt = nn.Embedding(TOKENS, dim)
        self.offset = nn.Embedding(MAX_ALLELE_BP, dim)
        self.action = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 5, padding=2 * 2 ** i, dilation=2 ** i) for i in range(layers))
        self.norms = nn.ModuleList(nn.GroupNorm(1, dim) for _ in range(layers))
        self.head = nn.Conv1d(dim, TOKENS, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.bases(batch["window"].long())                             # [B, L, D]
        positions, named = named_positions(batch)                          # [B, E, 16]
        features = action_features(self, batch) * named[..., None]        # [B, E, 16, D]
        x = x.scatter_add(1, positions.flatten(1)[..., None].expand(-1, -1, x.shape[-1]), features.flatten(1, 2))
        h = x.transpose(1, 2)                                              # [B, D, L]
        for conv, norm in zip(self.convs, self.norms):
            h = h + conv(F.gelu(norm(h)))
        return self.head(h).transpose(1, 2)                                # [B, L, 5]


def named_positions(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, E, 16] each edit's allele offsets as window positions (kept inside the window), and which of them
    the edit names (a REF or ALT base there): ``rel_pos`` .. ``rel_pos + max(ref, alt) - 1``."""
    offsets = torch.arange(MAX_ALLELE_BP, device=batch["edit_pos"].device)
    named = (batch["ref_mask"] | batch["alt_mask"]) & batch["edit_mask"][..., None]
    positions = (batch["edit_pos"][..., None] + offsets).clamp(max=batch["window"].shape[1] - 1)
    return positions, named


def action_features(model: WorldModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, E, 16, D]: each edit's type, allele offset and REF and ALT bases there, encoded."""
    offsets = torch.arange(MAX_ALLELE_BP, device=batch["edit_pos"].device)
    features = (model.edit_type(batch["edit_type"].long())[:, :, None] + model.offset(offsets)[None, None]
                + model.ref(batch["ref"].long()) * batch["ref_mask"][..., None]
                + model.alt(batch["alt"].long()) * batch["alt_mask"][..., None])
    return model.action(features)


def edited_positions(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, L] bool: the window positions the edits name."""
    positions, named = named_positions(batch)
    mask = torch.zeros(batch["window"].shape, dtype=torch.bool, device=positions.device)
    rows = torch.arange(len(mask), device=positions.device)[:, None, None].expand_as(positions)
    mask[rows[named], positions[named]] = True
    return mask


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def loss_of(model: WorldModel, batch: dict[str, torch.Tensor], edited_weight: float) -> torch.Tensor:
    """Cross-entropy over every target base, plus ``edited_weight`` times that over the edited positions."""
    logits = model(batch)
    target = batch["target"].long()
    every = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view_as(target)
    edited = edited_positions(batch)
    return every.mean() + edited_weight * every[edited].mean()


@torch.no_grad()
def evaluate(model: WorldModel, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Cross-entropy and accuracy on the edited positions, the model's and the copy baseline's."""
    model.eval()
    loss_sum, right, copied, count = 0.0, 0, 0, 0
    for batch in loader:
        batch = to_device(batch, device)
        edited = edited_positions(batch)
        logits = model(batch)[edited]
        target = batch["target"].long()[edited]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        right += int((logits.argmax(-1) == target).sum())
        copied += int((batch["window"].long()[edited] == target).sum())
        count += int(edited.sum())
    model.train()
    q = min(max(copied / count, 1e-6), 1 - 1e-6)
    baseline = -(q * math.log(q) + (1 - q) * math.log((1 - q) / (TOKENS - 1)))
    return {"edited_positions": count, "model_loss": loss_sum / count, "model_accuracy": right / count,
            "copy_loss": baseline, "copy_accuracy": copied / count}


def train(train_runs: list[str], val_runs: list[str], *, epochs: int = 6, batch_size: int = 16, lr: float = 3e-3,
          edited_weight: float = 1.0, workers: int = 0, seed: int = 0, device: str | None = None) -> dict:
    """Train on ``train_runs`` and return the metrics on ``val_runs`` (see `evaluate`)."""
    torch.manual_seed(seed)
    where = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    train_set = RunDataset(train_runs, batch_size=batch_size, shuffle=True, seed=seed)
    val_set = RunDataset(val_runs, batch_size=batch_size)
    model = WorldModel().to(where)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * len(train_set)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    # The dataset yields whole batches: batch_size=None hands them through.
    loader = DataLoader(train_set, batch_size=None, num_workers=workers, pin_memory=where.type == "cuda")
    started = time.monotonic()
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        for batch in loader:
            loss = loss_of(model, to_device(batch, where), edited_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        log.info("epoch %d: last batch loss %.3f, %.0f s", epoch, loss.item(), time.monotonic() - started)
    metrics = evaluate(model, DataLoader(val_set, batch_size=None, num_workers=workers), where)
    metrics.update(seconds=time.monotonic() - started, device=where.type, epochs=epochs)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", nargs="+", required=True, help="run dir(s) to train on")
    parser.add_argument("--val", nargs="+", required=True, help="held-out run dir(s), e.g. built with split=val")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when present)")
    parser.add_argument("--metrics", help="also write the metrics to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    metrics = train(args.train, args.val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    workers=args.workers, seed=args.seed, device=args.device)
    log.info("edited positions of %s: model loss %.3f (accuracy %.1f%%), copy baseline %.3f (accuracy %.1f%%)",
             " ".join(args.val), metrics["model_loss"], 100 * metrics["model_accuracy"], metrics["copy_loss"],
             100 * metrics["copy_accuracy"])
    if args.metrics:
        with open(args.metrics, "w") as out:
            json.dump(metrics, out, indent=1)


if __name__ == "__main__":
    main()
