"""Tensors for the trainer: a batch of tuples as fixed-shape uint8/int64/bool arrays.

A batch of ``B`` tuples whose longest action has ``E`` edits (or
``max_edits``), windows of ``L`` bases:

| key | shape | dtype | meaning |
|---|---|---|---|
| window | ``[B, L]`` | uint8 | reference window tokens, A=0 C=1 G=2 T=3 N=4 |
| target | ``[B, L]`` | uint8 | target window tokens |
| edit_pos | ``[B, E]`` | int64 | 0-based ``rel_pos`` of each edit (0 where padded) |
| edit_type | ``[B, E]`` | uint8 | int(EditType): SNV=0 INS=1 DEL=2 MNV=3 INDEL=4 (0 where padded) |
| edit_mask | ``[B, E]`` | bool | which edit slots hold an edit |
| ref, alt | ``[B, E, 16]`` | uint8 | allele tokens, 0 where padded |
| ref_mask, alt_mask | ``[B, E, 16]`` | bool | which allele positions hold a base |
| window_index | ``[B]`` | int64 | the tuple's window in the plan |
| tuple_index | ``[B]`` | int64 | the tuple within its window |

With a `Vocabulary` (``RunDataset`` always has one,
``collate(..., vocabulary=...)`` for live items), batches also carry labels:
``requested_source`` ``[B]`` and ``edit_source`` ``[B, E]`` (source ids, 0
where padded) and ``chrom`` ``[B]`` (contig id, -1 for unplaced windows).
`decode` turns a batch back into sequences and edits.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data._utils.collate import default_collate_fn_map

from .tokens import FlatEdits, Vocabulary, decode as decode_tokens, edit_arrays, encode
from .types import EditType, edit_type

class Batch(dict):
    """A batch a dataset yields whole: handing it to a DataLoader's own batching is an error that says so.

    ``DataLoader(dataset, batch_size=N)`` would stack N batches into one
    (``[N, B, L]``) or fail on their shapes. torch's ``default_collate``
    looks a batch element's type up in ``default_collate_fn_map``, its hook for
    types of their own; `Batch` is entered there, for this type only,
    and refuses.
    """


def _refuse(batch, *, collate_fn_map=None):
    raise ValueError("this dataset yields whole batches already: use DataLoader(dataset, batch_size=None)")


default_collate_fn_map[Batch] = _refuse


def batch(arrays: dict[str, np.ndarray]) -> Batch:
    """Arrays as a `Batch` of tensors."""
    return Batch(to_tensors(arrays))


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in arrays.items()}


def collate(items: Sequence, max_edits: int | None = None, vocabulary: Vocabulary | None = None
            ) -> dict[str, torch.Tensor]:
    """A DataLoader ``collate_fn`` for `TrainingDatasetItem` lists (with
    ``vocabulary``, source and contig labels too: ``functools.partial(collate, vocabulary=...)``)."""
    tuples = [item.training_tuple for item in items]
    edits = [e for t in tuples for e in t.rel_edits]
    source = None if vocabulary is None else vocabulary.source_ids([s for t in tuples for s in t.edit_sources])
    flat = FlatEdits.from_strings([e.rel_pos for e in edits], [edit_type(e.ref, e.alt) for e in edits],
                                  [e.ref for e in edits], [e.alt for e in edits], source)
    arrays = {
        "window": encode([item.source_window.sequence for item in items]),
        "target": encode([t.target_window for t in tuples]),
        **edit_arrays(np.fromiter((len(t.rel_edits) for t in tuples), np.int64, len(tuples)), flat, max_edits),
        "window_index": np.fromiter((t.window_index for t in tuples), np.int64, len(tuples)),
        "tuple_index": np.fromiter((t.tuple_index for t in tuples), np.int64, len(tuples)),
    }
    if vocabulary is not None:
        arrays["requested_source"] = vocabulary.source_ids([t.requested_source for t in tuples])
        arrays["chrom"] = vocabulary.chrom_ids([t.chrom for t in tuples])
    return to_tensors(arrays)


def decode(batch: dict[str, torch.Tensor], vocabulary: Vocabulary | None = None) -> list[dict]:
    """A batch back as one dict per tuple: ``window``, ``target`` (bases), ``edits`` as
    ``(rel_pos, ref, alt, edit_type)`` (plus the source name with ``vocabulary``), the indices, and the
    labels' names when the batch has them."""
    out = []
    width = batch["edit_mask"].shape[1]
    for i in range(batch["window"].shape[0]):
        edits = []
        for k in range(width):
            if not bool(batch["edit_mask"][i, k]):
                continue
            ref = decode_tokens(batch["ref"][i, k][batch["ref_mask"][i, k]].numpy())
            alt = decode_tokens(batch["alt"][i, k][batch["alt_mask"][i, k]].numpy())
            edit = (int(batch["edit_pos"][i, k]), ref, alt, EditType(int(batch["edit_type"][i, k])))
            if vocabulary is not None and "edit_source" in batch:
                edit += (vocabulary.sources[int(batch["edit_source"][i, k])],)
            edits.append(edit)
        item = {"window": decode_tokens(batch["window"][i].numpy()), "target": decode_tokens(batch["target"][i].numpy()),
                "edits": edits, "window_index": int(batch["window_index"][i]),
                "tuple_index": int(batch["tuple_index"][i])}
        if vocabulary is not None and "requested_source" in batch:
            chrom = int(batch["chrom"][i])
            item.update(requested_source=vocabulary.sources[int(batch["requested_source"][i])],
                        chrom=None if chrom < 0 else vocabulary.chroms[chrom])
        out.append(item)
    return out
