"""Reading finished builds: one run dir, or the run dirs of a sharded sweep as one dataset.

A run's shard ``k`` (``windows/`` and ``tuples/part-k.parquet``) is block
``k`` of the window plan, so the shards of several runs built with the same
config and ``shard.index`` 0..``shard.count``-1 fit together without overlap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow.parquet as pq

from .builder import TrainingTuple
from .edits import RelEdit, apply_edits
from .errors import InputError
from .partition import Consumer
from .store import read_manifest
from .windows import WindowContext

# Manifest entries that must agree for runs to be read as one dataset.
SHARED_KEYS = ("schema_version", "seed", "split", "windows_per_shard", "holdout_sha256", "preserve_length",
               "pad", "multi_edit", "store_targets")


@dataclass(frozen=True)
class Shard:
    """Shard ``block`` of ``run_dir``."""

    run_dir: Path
    block: int

    def path(self, table: str) -> Path:
        return self.run_dir / table / f"part-{self.block:05d}.parquet"


class RunSet:
    """Finished runs read as one dataset, their shards in plan order.

    Runs must agree on everything that shapes the data (seed, split, mix,
    holdout, ...; see ``SHARED_KEYS``) and must not hold the same block.
    With ``complete=True`` (default) the shard indices of a sharded sweep
    must all be there.
    """

    def __init__(self, run_dirs: Iterable[str | os.PathLike] | str | os.PathLike, complete: bool = True) -> None:
        dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, os.PathLike)) else [Path(d) for d in run_dirs]
        if not dirs:
            raise InputError("no run directories given")
        self.manifests = {d: read_manifest(d) for d in dirs}
        first_dir, first = dirs[0], self.manifests[dirs[0]]
        for d, manifest in self.manifests.items():
            for key in SHARED_KEYS:
                if manifest.get(key) != first.get(key):
                    raise InputError(
                        f"{d}: manifest {key}={manifest.get(key)!r} differs from {first_dir} ({first.get(key)!r}); "
                        "these runs are not parts of one build"
                    )
        owner: dict[int, Path] = {}
        for d in dirs:
            for part in sorted((d / "tuples").glob("part-*.parquet")):
                block = int(part.stem.split("-")[1])
                if block in owner:
                    raise InputError(f"{d}: block {block} is also in {owner[block]}; runs overlap")
                owner[block] = d
        if complete:
            counts = {m["shard"]["count"] for m in self.manifests.values()}
            indices = {m["shard"]["index"] for m in self.manifests.values()}
            if len(counts) != 1 or indices != set(range(counts.pop())):
                raise InputError(
                    f"shard indices {sorted(indices)} of shard.count {sorted({m['shard']['count'] for m in self.manifests.values()})} "
                    "do not make a whole build; pass complete=False to read part of one"
                )
        self.shards = [Shard(owner[k], k) for k in sorted(owner)]
        self.preserve_length, self.pad = first["preserve_length"], first["pad"]

    def consumer_shards(self, consumer: Consumer | None = None) -> list[Shard]:
        """The shards of ``consumer`` (all when None): blocks ``k`` with ``k % count == index``."""
        return [s for s in self.shards if consumer is None or consumer.owns(s.block)]

    def pairs(self, consumer: Consumer | None = None) -> Iterator[tuple[WindowContext, TrainingTuple]]:
        """``(window, tuple)`` for every tuple, targets read back or recomputed."""
        for shard in self.consumer_shards(consumer):
            yield from self.shard_pairs(shard)

    def shard_pairs(self, shard: Shard) -> Iterator[tuple[WindowContext, TrainingTuple]]:
        windows = {w.window_index: w for w in self._windows(shard)}
        for row in pq.read_table(shard.path("tuples")).to_pylist():
            window = windows.get(row["window_index"])
            if window is None:
                raise InputError(f"{shard.path('tuples')}: window {row['window_index']} has no window row")
            yield window, self._tuple(window, row)

    def _tuple(self, window: WindowContext, row: dict) -> TrainingTuple:
        edits = tuple(RelEdit(e["rel_pos"], e["ref"], e["alt"]) for e in row["edits"])
        target = row.get("target_window")
        if target is None:
            left, right = (window.left_flank, window.right_flank) if self.pad == "flank" else ("", "")
            target = apply_edits(window.sequence, edits, left_flank=left, right_flank=right,
                                 preserve_length=self.preserve_length, where=window.label)
        return TrainingTuple(
            window_id=row["window_id"], source_record_id=window.record_id, edit_source=row["edit_source"],
            rel_edits=edits, target_window=target, window_start_bp=window.start_bp, window_end_bp=window.end_bp,
            window_index=row["window_index"], tuple_index=row["tuple_index"],
            requested_source=row["requested_source"], chrom=window.chrom,
            edit_sources=tuple(e["source"] for e in row["edits"]), adjusted_side=row["adjusted_side"],
        )

    def tuples(self, consumer: Consumer | None = None) -> Iterator[TrainingTuple]:
        for _, item in self.pairs(consumer):
            yield item

    def windows(self, consumer: Consumer | None = None) -> Iterator[WindowContext]:
        for shard in self.consumer_shards(consumer):
            yield from self._windows(shard)

    @staticmethod
    def _windows(shard: Shard) -> Iterator[WindowContext]:
        for row in pq.read_table(shard.path("windows")).to_pylist():
            yield WindowContext(
                record_id=row["record_id"], source=row["source"], sequence=row["sequence"],
                start_bp=row["start_bp"], chrom=row["chrom"], window_index=row["window_index"],
                left_flank=row["left_flank"], right_flank=row["right_flank"], window_id=row["window_id"],
            )


def read_tuples(run_dirs) -> Iterator[TrainingTuple]:
    """The tuples of finished run(s), equal to those the live builder yields, in plan order."""
    return RunSet(run_dirs).tuples()


def read_windows(run_dirs) -> Iterator[WindowContext]:
    """The kept windows of finished run(s), in plan order."""
    return RunSet(run_dirs).windows()
