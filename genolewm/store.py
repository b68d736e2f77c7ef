"""Run directories: Parquet shards of windows and tuples, and the manifest.

Layout of a finished run::

    windows/part-00000.parquet ...   one row per kept window
    tuples/part-00000.parquet ...    one row per tuple
    config.yaml                      the resolved config the run was built from
    manifest.json                    written last; its presence marks a finished run

Everything is staged under ``.partial/`` and moved into place only when the
whole build succeeded, so an interrupted or failed run never leaves a file
that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .builder import TrainingTuple, TupleBuilder
from .edits import RelEdit, apply_edits
from .errors import ConfigError, InputError
from .windows import WindowContext

SCHEMA_VERSION = 1
# Sequences are large_string: Arrow converts long Python strings to it ~10x faster than to string.
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")

EDIT_TYPE = pa.struct(
    [
        ("rel_pos", pa.int32()),
        ("ref", pa.string()),
        ("alt", pa.string()),
        ("edit_type", pa.string()),
        ("source", pa.string()),
    ]
)
WINDOWS_SCHEMA = pa.schema(
    [
        ("window_index", pa.int64()),
        ("window_id", pa.string()),
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("chrom", pa.string()),
        ("start_bp", pa.int64()),
        ("end_bp", pa.int64()),
        ("sequence", pa.large_string()),
        ("left_flank", pa.string()),
        ("right_flank", pa.string()),
    ]
)
TUPLES_SCHEMA = pa.schema(
    [
        ("window_index", pa.int64()),
        ("window_id", pa.string()),
        ("tuple_index", pa.int32()),
        ("requested_source", pa.string()),
        ("edit_source", pa.string()),
        ("edits", pa.list_(EDIT_TYPE)),
        ("adjusted_side", pa.string()),
        ("target_window", pa.large_string()),
    ]
)


@dataclass(frozen=True)
class OutputSettings:
    """How a run is written (the ``output`` config group)."""

    rows_per_shard: int = 100_000
    store_targets: bool = True
    compression: str = "zstd"
    compression_level: int | None = None
    hash_inputs: bool = True

    def __post_init__(self) -> None:
        if self.rows_per_shard < 1:
            raise ConfigError(f"output.rows_per_shard={self.rows_per_shard}: must be >= 1")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(
                f"output.compression={self.compression!r}: allowed values are {', '.join(COMPRESSIONS)}"
            )


class _ShardWriter:
    """Writes one table as ``part-NNNNN.parquet`` shards of ``rows_per_shard`` rows.

    Rows go out as row groups of at most ``ROW_GROUP_ROWS``, encoded and
    compressed on ``executor``'s single thread while the build goes on; at
    most one group waits, so memory stays bounded whatever the shard size.
    """

    ROW_GROUP_ROWS = 2_048

    def __init__(self, directory: Path, schema: pa.Schema, settings: OutputSettings, executor: Executor) -> None:
        self.directory = directory
        self.schema = schema
        self.settings = settings
        self.executor = executor
        self.rows: dict[str, list] = {name: [] for name in schema.names}
        self.buffered = 0
        self.in_shard = 0
        self.shards = 0
        self.writer: pq.ParquetWriter | None = None  # used on the executor's thread only
        self.pending: Future | None = None
        directory.mkdir(parents=True)

    def add(self, row: dict) -> None:
        for name, values in self.rows.items():
            values.append(row[name])
        self.buffered += 1
        if self.buffered >= min(self.ROW_GROUP_ROWS, self.settings.rows_per_shard - self.in_shard):
            self._write_group()

    def _write_group(self) -> None:
        path = None
        if self.in_shard == 0:
            path = self.directory / f"part-{self.shards:05d}.parquet"
            self.shards += 1
        self.in_shard += self.buffered
        last = self.in_shard >= self.settings.rows_per_shard
        if last:
            self.in_shard = 0
        self.wait()
        self.pending = self.executor.submit(self._write, self.rows, path, last)
        self.rows = {name: [] for name in self.schema.names}
        self.buffered = 0

    def _write(self, rows: dict[str, list], path: Path | None, last: bool) -> None:
        if path is not None:
            compression = None if self.settings.compression == "none" else self.settings.compression
            self.writer = pq.ParquetWriter(
                path, self.schema, compression=compression, compression_level=self.settings.compression_level
            )
        self.writer.write_table(pa.table(rows, schema=self.schema))
        if last:
            self.writer.close()
            self.writer = None

    def wait(self) -> None:
        """Block until the queued row group is written; re-raise its error."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        """Write what is buffered and close the last shard (an empty table still gets one)."""
        if self.buffered or self.shards == 0:
            self._write_group()
        self.wait()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def discard(self) -> None:
        """Stop after a failure: let the queued group finish, close the file, ignore errors."""
        try:
            self.wait()
        except Exception:  # noqa: BLE001 - the build's own error is the one reported
            pass
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RunWriter:
    """Stages a run's shards and publishes them with the manifest on ``commit``."""

    def __init__(self, run_dir: str | os.PathLike, settings: OutputSettings) -> None:
        self.run_dir = Path(run_dir)
        self.settings = settings
        for name in ("windows", "tuples", "config.yaml", "manifest.json"):
            if (self.run_dir / name).exists():
                raise InputError(
                    f"{self.run_dir / name} exists: this run dir already holds a build; "
                    "choose a new hydra.run.dir"
                )
        self.staging = self.run_dir / ".partial"
        shutil.rmtree(self.staging, ignore_errors=True)
        tuples_schema = TUPLES_SCHEMA if settings.store_targets else TUPLES_SCHEMA.remove(
            TUPLES_SCHEMA.get_field_index("target_window")
        )
        # One thread: row groups are written in the order they were queued.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genolewm-parquet")
        self.windows = _ShardWriter(self.staging / "windows", WINDOWS_SCHEMA, settings, self.executor)
        self.tuples = _ShardWriter(self.staging / "tuples", tuples_schema, settings, self.executor)
        self.by_edit_source: Counter = Counter()
        self.by_requested_source: Counter = Counter()

    def add(self, window: WindowContext, tuples: Iterable[TrainingTuple]) -> None:
        self.windows.add(
            {
                "window_index": window.window_index, "window_id": window.window_id,
                "record_id": window.record_id, "source": window.source, "chrom": window.chrom,
                "start_bp": window.start_bp, "end_bp": window.end_bp, "sequence": window.sequence,
                "left_flank": window.left_flank, "right_flank": window.right_flank,
            }
        )
        for t in tuples:
            self.by_edit_source[t.edit_source] += 1
            self.by_requested_source[t.requested_source] += 1
            self.tuples.add(
                {
                    "window_index": t.window_index, "window_id": t.window_id, "tuple_index": t.tuple_index,
                    "requested_source": t.requested_source, "edit_source": t.edit_source,
                    "edits": [
                        {"rel_pos": e.rel_pos, "ref": e.ref, "alt": e.alt, "edit_type": e.edit_type, "source": src}
                        for e, src in zip(t.rel_edits, t.edit_sources)
                    ],
                    "adjusted_side": t.adjusted_side,
                    "target_window": t.target_window,
                }
            )

    @property
    def total_tuples(self) -> int:
        return sum(self.by_edit_source.values())

    def close(self) -> None:
        """Write the rows still buffered and close the last shards."""
        self.windows.close()
        self.tuples.close()
        self.executor.shutdown()

    def commit(self, manifest: dict, config_yaml: str) -> Path:
        """Move the flushed shards and the config into place, then write the manifest."""
        (self.staging / "config.yaml").write_text(config_yaml)
        for name in ("windows", "tuples", "config.yaml"):
            os.replace(self.staging / name, self.run_dir / name)
        self.staging.rmdir()
        path = self.run_dir / "manifest.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    def abort(self) -> None:
        for table in (self.windows, self.tuples):
            table.discard()
        self.executor.shutdown()
        shutil.rmtree(self.staging, ignore_errors=True)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_inputs(paths: Iterable[str], hash_files: bool = True) -> list[dict]:
    """Path, size and sha256 of each input file and of the index files beside it."""
    out = []
    for path in paths:
        for candidate in (path, path + ".fai", path + ".gzi", path + ".tbi", path + ".csi"):
            if os.path.isfile(candidate) and all(d["path"] != candidate for d in out):
                out.append(
                    {
                        "path": os.path.abspath(candidate),
                        "size": os.path.getsize(candidate),
                        "sha256": file_sha256(candidate) if hash_files else None,
                    }
                )
    return out


def write_run(
    builder: TupleBuilder,
    run_dir: str | os.PathLike,
    settings: OutputSettings,
    *,
    config_yaml: str,
    input_paths: Iterable[str],
    progress: bool = True,
) -> dict:
    """Build every tuple into ``run_dir`` and return the manifest written last.

    On any error the staged files are removed and the error propagates.
    """
    writer = RunWriter(run_dir, settings)
    stats = builder.windows.stats
    started = time.perf_counter()
    try:
        with tqdm(
            total=builder.windows.plan_size(), unit="window", desc="build", disable=None if progress else True
        ) as bar:
            for window, tuples in builder.iter_windows():
                writer.add(window, tuples)
                bar.update(stats.seen - bar.n)
            bar.update(stats.seen - bar.n)
        writer.close()
        elapsed = time.perf_counter() - started
        total = writer.total_tuples
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "seed": builder.seed,
            "split": builder.split,
            "edge_margin": builder.edge_margin,
            "preserve_length": builder.preserve_length,
            "pad": builder.pad,
            "multi_edit": {"fraction": builder.multi_edit.fraction, "max_edits": builder.multi_edit.max_edits},
            "store_targets": settings.store_targets,
            "config_sha256": hashlib.sha256(config_yaml.encode()).hexdigest(),
            "holdout_sha256": builder.holdouts.digest(),
            "inputs": describe_inputs(input_paths, settings.hash_inputs),
            "windows": {
                "seen": stats.seen,
                "kept": builder.stats.kept,
                "excluded_by_holdout": builder.stats.excluded_by_holdout,
                "skipped_n": stats.skipped_n,
            },
            "tuples": {
                "total": total,
                "by_edit_source": dict(sorted(writer.by_edit_source.items())),
                "by_requested_source": dict(sorted(writer.by_requested_source.items())),
            },
            "shards": {"windows": writer.windows.shards, "tuples": writer.tuples.shards},
            "fallbacks": dict(sorted(builder.stats.fallbacks.items())),
            "variants_skipped": dict(sorted(builder.variants_skipped.items())),
            "elapsed_s": round(elapsed, 3),
            "tuples_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        }
        writer.commit(manifest, config_yaml)
    except BaseException:
        writer.abort()
        raise
    return manifest


def read_manifest(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise InputError(f"{run_dir}: no manifest.json, so not a finished build")
    return json.loads(path.read_text())


def iter_rows(run_dir: str | os.PathLike, table: str) -> Iterator[tuple[str, int, dict]]:
    """``(shard path, row number in shard, row)`` for every row of ``windows`` or ``tuples``, in order."""
    for part in sorted((Path(run_dir) / table).glob("part-*.parquet")):
        number = 0
        for batch in pq.ParquetFile(part).iter_batches():
            for row in batch.to_pylist():
                yield f"{table}/{part.name}", number, row
                number += 1


def read_windows(run_dir: str | os.PathLike) -> Iterator[WindowContext]:
    """The kept windows of a finished run, in stream order."""
    read_manifest(run_dir)
    for _, _, row in iter_rows(run_dir, "windows"):
        yield WindowContext(
            record_id=row["record_id"], source=row["source"], sequence=row["sequence"],
            start_bp=row["start_bp"], chrom=row["chrom"], window_index=row["window_index"],
            left_flank=row["left_flank"], right_flank=row["right_flank"], window_id=row["window_id"],
        )


def read_tuples(run_dir: str | os.PathLike) -> Iterator[TrainingTuple]:
    """The tuples of a finished run, equal to those the live builder yields.

    Targets are read back when the run stored them and recomputed from the
    window, its flanks and the edits otherwise. Windows and tuples are both
    in stream order, so they are joined in one streaming pass.
    """
    manifest = read_manifest(run_dir)
    preserve_length, pad = manifest["preserve_length"], manifest["pad"]
    windows = read_windows(run_dir)
    window: WindowContext | None = None
    for _, _, row in iter_rows(run_dir, "tuples"):
        while window is None or window.window_index < row["window_index"]:
            window = next(windows, None)
            if window is None:
                raise InputError(f"{run_dir}: tuple row for window {row['window_index']} has no window row")
        if window.window_index != row["window_index"]:
            raise InputError(f"{run_dir}: tuple row for window {row['window_index']} has no window row")
        edits = tuple(RelEdit(e["rel_pos"], e["ref"], e["alt"]) for e in row["edits"])
        target = row.get("target_window")
        if target is None:
            left, right = (window.left_flank, window.right_flank) if pad == "flank" else ("", "")
            target = apply_edits(
                window.sequence, edits, left_flank=left, right_flank=right, preserve_length=preserve_length,
                where=window.label,
            )
        yield TrainingTuple(
            window_id=row["window_id"], source_record_id=window.record_id, edit_source=row["edit_source"],
            rel_edits=edits, target_window=target, window_start_bp=window.start_bp,
            window_end_bp=window.end_bp, window_index=row["window_index"], tuple_index=row["tuple_index"],
            requested_source=row["requested_source"], chrom=window.chrom,
            edit_sources=tuple(e["source"] for e in row["edits"]), adjusted_side=row["adjusted_side"],
        )
