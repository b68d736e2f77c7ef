"""``GenoLeWMDataset``: the live tuple stream as a torch ``IterableDataset``.

The window plan is cut into blocks of ``windows_per_block`` windows and each
consumer (distributed rank x DataLoader worker, see :mod:`genolewm.partition`)
builds only its blocks. Every window's draws derive from the run seed and
the window alone, so the multiset of tuples is the same for any number of
workers or ranks, and equals what a build with
``output.windows_per_shard=windows_per_block`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from torch.utils.data import IterableDataset

from .builder import TrainingTuple, TupleBuilder
from .partition import current_consumer
from .providers import EditProvider
from .runs import RunSet, Shard
from .tensors import edit_arrays, encode, to_tensors, tokens
from .windows import WindowContext


@dataclass(frozen=True)
class TrainingDatasetItem:
    """One stream item with the source window needed for trainer encoding."""

    training_tuple: TrainingTuple
    window: WindowContext


class GenoLeWMDataset(IterableDataset):
    """Deterministic iterable dataset over windows and edit-source providers.

    Yields :class:`TrainingTuple` values, or :class:`TrainingDatasetItem`
    (tuple + source window, what :func:`genolewm.tensors.collate` takes) when
    ``with_windows``. ``rank``/``world_size`` override the distributed
    defaults (torch.distributed when initialised, else ``RANK``/``WORLD_SIZE``).
    """

    def __init__(
        self, windows, providers: Mapping[str, EditProvider], *, seed: int, windows_per_block: int = 256,
        with_windows: bool = False, rank: int | None = None, world_size: int | None = None, **settings,
    ) -> None:
        """``settings`` are :class:`TupleBuilder`'s (mix, fallbacks, holdouts, multi_edit, split, ...)."""
        self._init(TupleBuilder(windows=windows, providers=providers, seed=seed, **settings),
                   windows_per_block, with_windows, rank, world_size)

    @classmethod
    def from_builder(cls, builder: TupleBuilder, **options) -> "GenoLeWMDataset":
        """Wrap an already validated builder (e.g. from ``genolewm.build.make_builder``)."""
        dataset = cls.__new__(cls)
        dataset._init(builder, options.pop("windows_per_block", 256), options.pop("with_windows", False),
                      options.pop("rank", None), options.pop("world_size", None))
        if options:
            raise TypeError(f"unknown options {sorted(options)}")
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
                        yield TrainingDatasetItem(item, window)

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

    def _shard_arrays(self, shard: Shard) -> dict:
        """A shard as arrays: tokens per window and per tuple, and its flat edits."""
        windows = pq.read_table(shard.path("windows"), columns=["window_index", "sequence"])
        tuples = pq.read_table(shard.path("tuples"))
        if "target_window" not in tuples.column_names:
            # Targets were not stored: recompute them (the slow path).
            target = encode([t.target_window for _, t in self.runs.shard_pairs(shard)])
        else:
            target = _column_tokens(tuples.column("target_window"))
        window_rows = np.searchsorted(windows.column("window_index").to_numpy(),
                                      tuples.column("window_index").to_numpy())
        edits = tuples.column("edits").combine_chunks()
        flat = edits.flatten()
        counts = pc.list_value_length(edits).to_numpy(zero_copy_only=False).astype(np.int64)
        return {
            "window_tokens": _column_tokens(windows.column("sequence")),
            "window_rows": window_rows,
            "target": target,
            "counts": counts,
            "edit_offsets": np.concatenate([[0], np.cumsum(counts)]),
            "rel_pos": flat.field("rel_pos").to_numpy(zero_copy_only=False).astype(np.int64),
            "types": flat.field("edit_type").to_pylist(),
            "refs": flat.field("ref").to_pylist(),
            "alts": flat.field("alt").to_pylist(),
            "window_index": tuples.column("window_index").to_numpy(),
            "tuple_index": tuples.column("tuple_index").to_numpy().astype(np.int64),
        }

    def _batch(self, parts: list[tuple[dict, int, int]]) -> dict:
        """One batch from the tuple rows ``[a, b)`` of per-shard arrays."""
        def rows(key):
            return np.concatenate([arrays[key][a:b] for arrays, a, b in parts])

        def edits(key):
            return [arrays[key][arrays["edit_offsets"][a] : arrays["edit_offsets"][b]] for arrays, a, b in parts]

        return to_tensors({
            "window": np.concatenate([arrays["window_tokens"][arrays["window_rows"][a:b]] for arrays, a, b in parts]),
            "target": rows("target"),
            **edit_arrays(rows("counts"), np.concatenate(edits("rel_pos")), *(sum(edits(key), []) for key in
                          ("types", "refs", "alts")), self.max_edits),
            "window_index": rows("window_index"), "tuple_index": rows("tuple_index"),
        })

    def __iter__(self) -> Iterator[dict | TrainingDatasetItem]:
        consumer = current_consumer(self.rank, self.world_size)
        if not self.tensors:
            for window, item in self.runs.pairs(consumer):
                yield TrainingDatasetItem(item, window)
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


def _column_tokens(column) -> np.ndarray:
    """``[n, L]`` tokens of a string column, straight from its Arrow buffer when all values have one length."""
    array = column.combine_chunks()
    if len(array) == 0:
        return np.zeros((0, 0), np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if array.type == pa.large_string() else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    if (lengths == lengths[0]).all():
        data = array.buffers()[2]
        return tokens(memoryview(data)[int(offsets[0]) : int(offsets[-1])], int(lengths[0]))
    return encode(array.to_pylist())
