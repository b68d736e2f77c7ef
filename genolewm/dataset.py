"""``GenoLeWMDataset``: the live tuple stream as a torch ``IterableDataset``.

The window plan is cut into blocks of ``windows_per_block`` windows and each
consumer (distributed rank x DataLoader worker, see :mod:`genolewm.partition`)
builds only its blocks. Every window's draws derive from the run seed and
the window alone, so the multiset of tuples is the same for any number of
workers or ranks, and equals what a build with
``output.windows_per_shard=windows_per_block`` writes.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
from torch.utils.data import IterableDataset

from .builder import TupleBuilder, TupleSettings
from .partition import current_consumer
from .runs import RunSet
from .tensors import to_tensors
from .tokens import FlatEdits, edit_arrays, encode
from .types import EditProvider, TrainingDatasetItem, TrainingTuple
from .windows import as_window_source


class GenoLeWMDataset(IterableDataset):
    """Deterministic iterable dataset over windows and edit-source providers.

    ``windows`` is a window source, or as in the seed an iterable of
    :class:`WindowContext` (or a callable returning one). Yields
    :class:`TrainingTuple` values, or :class:`TrainingDatasetItem` (source
    window + tuple, what :func:`genolewm.tensors.collate` takes) when
    ``with_windows``. ``settings`` are :class:`~genolewm.builder.TupleSettings`'
    fields (the seed's ``mix``, ``holdouts``, ``fallback_sources``,
    ``preserve_length``, and ``pad``, ``edge_margin``). ``rank``/``world_size``
    override the distributed defaults (torch.distributed when initialised,
    else ``RANK``/``WORLD_SIZE``).
    """

    def __init__(
        self, windows, providers: Mapping[str, EditProvider], *, seed: int, split: str = "train",
        windows_per_block: int = 256, with_windows: bool = False, rank: int | None = None,
        world_size: int | None = None, **settings,
    ) -> None:
        builder = TupleBuilder(windows=as_window_source(windows), providers=providers, seed=seed,
                               settings=TupleSettings(**settings), split=split)
        self._init(builder, windows_per_block, with_windows, rank, world_size)

    @classmethod
    def from_builder(cls, builder: TupleBuilder, *, windows_per_block: int = 256, with_windows: bool = False,
                     rank: int | None = None, world_size: int | None = None) -> "GenoLeWMDataset":
        """Wrap an already validated builder (e.g. from ``genolewm.config.make_builder``)."""
        dataset = cls.__new__(cls)
        dataset._init(builder, windows_per_block, with_windows, rank, world_size)
        return dataset

    def _init(self, builder, windows_per_block, with_windows, rank, world_size) -> None:
        IterableDataset.__init__(self)
        self.builder = builder
        self.windows_per_block = windows_per_block
        self.with_windows = with_windows
        self.rank, self.world_size = rank, world_size

    def iter_with_source_windows(self) -> Iterator[TrainingDatasetItem]:
        """This consumer's tuples together with their source windows."""
        consumer = current_consumer(self.rank, self.world_size)
        for block, (start, stop) in enumerate(self.builder.plan_blocks(self.windows_per_block)):
            if consumer.owns(block):
                for window, tuples in self.builder.iter_windows(start=start, stop=stop):
                    for item in tuples:
                        yield TrainingDatasetItem(source_window=window, training_tuple=item)

    def __iter__(self) -> Iterator[TrainingTuple | TrainingDatasetItem]:
        items = self.iter_with_source_windows()
        return items if self.with_windows else (item.training_tuple for item in items)


class RunDataset(IterableDataset):
    """A finished build (one run dir, or the run dirs of a sharded sweep) as batches of tensors.

    Each consumer (rank x DataLoader worker) reads its shards, the same
    blocks the live :class:`GenoLeWMDataset` gives it when its
    ``windows_per_block`` equals the build's ``output.windows_per_shard``, and
    yields :func:`genolewm.tensors.collate`-shaped dicts of ``batch_size``
    tuples (the last one may be shorter; use with ``DataLoader(batch_size=None)``),
    or with ``tensors=False`` the :class:`TrainingDatasetItem` values the live
    dataset yields with ``with_windows=True``.
    """

    def __init__(
        self, run_dirs, *, batch_size: int = 256, max_edits: int | None = None, tensors: bool = True,
        complete: bool = True, rank: int | None = None, world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.runs = RunSet(run_dirs, complete=complete)
        self.batch_size, self.max_edits, self.tensors = batch_size, max_edits, tensors
        self.rank, self.world_size = rank, world_size

    def _shard_arrays(self, shard) -> dict:
        """A shard as arrays (its reader's), with targets recomputed when the build did not store them."""
        arrays = dict(self.runs.reader.shard_arrays(shard))
        if arrays["target"] is None:
            arrays["target"] = encode([t.target_window for _, t in self.runs.shard_pairs(shard)])
        return arrays

    def _batch(self, parts: list[tuple[dict, int, int]]) -> dict:
        """One batch from the tuple rows ``[a, b)`` of per-shard arrays."""
        def rows(key):
            return np.concatenate([np.asarray(arrays[key][a:b]) for arrays, a, b in parts])

        offsets = [(arrays["edit_offsets"][a], arrays["edit_offsets"][b]) for arrays, a, b in parts]
        edits = FlatEdits.concat([arrays["edits"].rows(int(lo), int(hi)) for (arrays, _, _), (lo, hi)
                                  in zip(parts, offsets)])
        counts = np.concatenate([np.diff(np.asarray(arrays["edit_offsets"][a:b + 1])) for arrays, a, b in parts])
        return to_tensors({
            "window": np.concatenate([np.asarray(arrays["window_tokens"])[np.asarray(arrays["window_rows"][a:b])]
                                      for arrays, a, b in parts]),
            "target": rows("target"),
            **edit_arrays(counts, edits, self.max_edits),
            "window_index": rows("window_index").astype(np.int64), "tuple_index": rows("tuple_index").astype(np.int64),
        })

    def __iter__(self) -> Iterator[dict | TrainingDatasetItem]:
        consumer = current_consumer(self.rank, self.world_size)
        if not self.tensors:
            for window, item in self.runs.pairs(consumer):
                yield TrainingDatasetItem(source_window=window, training_tuple=item)
            return
        parts, size = [], 0
        for shard in self.runs.consumer_shards(consumer):
            arrays = self._shard_arrays(shard)
            start, n = 0, len(arrays["tuple_index"])
            while start < n:
                take = min(self.batch_size - size, n - start)
                parts.append((arrays, start, start + take))
                size += take
                start += take
                if size == self.batch_size:
                    yield self._batch(parts)
                    parts, size = [], 0
        if size:
            yield self._batch(parts)

