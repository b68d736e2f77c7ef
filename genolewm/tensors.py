"""Tensors for the trainer: a batch of tuples as fixed-shape uint8/int64/bool arrays.

A batch of ``B`` tuples whose longest action has ``E`` edits (or
``max_edits``), windows of ``L`` bases:

=============  ==============  =====  ===============================================
key            shape           dtype  meaning
=============  ==============  =====  ===============================================
window         ``[B, L]``      uint8  reference window tokens, A=0 C=1 G=2 T=3 N=4
target         ``[B, L]``      uint8  target window tokens
edit_pos       ``[B, E]``      int64  0-based ``rel_pos`` of each edit (0 where padded)
edit_type      ``[B, E]``      uint8  SNV=0 INS=1 DEL=2 MNV=3 INDEL=4 (0 where padded)
edit_mask      ``[B, E]``      bool   which edit slots hold an edit
ref, alt       ``[B, E, 16]``  uint8  allele tokens, 0 where padded
ref_mask, ...  ``[B, E, 16]``  bool   which allele positions hold a base
window_index   ``[B]``         int64  the tuple's window in the plan
tuple_index    ``[B]``         int64  the tuple within its window
=============  ==============  =====  ===============================================
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .tokens import FlatEdits, edit_arrays, encode

def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in arrays.items()}


def collate(items: Sequence, max_edits: int | None = None) -> dict[str, torch.Tensor]:
    """A DataLoader ``collate_fn`` for :class:`~genolewm.types.TrainingDatasetItem` lists."""
    tuples = [item.training_tuple for item in items]
    edits = [e for t in tuples for e in t.rel_edits]
    flat = FlatEdits.from_strings([e.rel_pos for e in edits], [e.edit_type for e in edits],
                                  [e.ref for e in edits], [e.alt for e in edits])
    arrays = {
        "window": encode([item.source_window.sequence for item in items]),
        "target": encode([t.target_window for t in tuples]),
        **edit_arrays(np.fromiter((len(t.rel_edits) for t in tuples), np.int64, len(tuples)), flat, max_edits),
        "window_index": np.fromiter((t.window_index for t in tuples), np.int64, len(tuples)),
        "tuple_index": np.fromiter((t.tuple_index for t in tuples), np.int64, len(tuples)),
    }
    return to_tensors(arrays)
