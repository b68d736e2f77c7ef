"""Run directories: Parquet shards of windows and tuples, and the manifest.

Layout of a finished run::

    windows/part-00000.parquet ...   one row per kept window of plan block 0, 1, ...
    tuples/part-00000.parquet ...    one row per tuple of the same windows
    config.yaml                      the resolved config the run was built from
    manifest.json                    written last; its presence marks a finished run

Everything is staged under ``.partial/`` and moved into place only when the
whole build succeeded, so an interrupted or failed run never leaves a file
that looks finished.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import time
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .builder import BlockResult, TupleBuilder
from .errors import ConfigError, InputError
from .partition import Consumer

SCHEMA_VERSION = 1
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
# Sequences are large_string: Arrow converts long Python strings to it ~10x faster than to string.
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


# Dictionary-encoding the unique sequences would make reading them ~5x slower.
DICTIONARY_COLUMNS = ("record_id", "source", "chrom", "requested_source", "edit_source", "adjusted_side")


@dataclass(frozen=True)
class OutputSettings:
    """How a run is written (the ``output`` config group)."""

    windows_per_shard: int = 256
    store_targets: bool = True
    compression: str = "zstd"
    compression_level: int | None = None
    hash_inputs: bool = True

    def __post_init__(self) -> None:
        if self.windows_per_shard < 1:
            raise ConfigError(f"output.windows_per_shard={self.windows_per_shard}: must be >= 1")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(
                f"output.compression={self.compression!r}: allowed values are {', '.join(COMPRESSIONS)}"
            )


def block_tables(block: BlockResult, store_targets: bool) -> tuple[pa.Table, pa.Table]:
    """The windows and tuples of one block as Arrow tables in the run schema."""
    ws = block.windows
    windows = pa.table(
        {
            "window_index": [w.window_index for w in ws], "window_id": [w.window_id for w in ws],
            "record_id": [w.record_id for w in ws], "source": [w.source for w in ws],
            "chrom": [w.chrom for w in ws], "start_bp": [w.start_bp for w in ws],
            "end_bp": [w.end_bp for w in ws], "sequence": [w.sequence for w in ws],
            "left_flank": [w.left_flank for w in ws], "right_flank": [w.right_flank for w in ws],
        },
        schema=WINDOWS_SCHEMA,
    )
    ts = block.tuples
    columns = {
        "window_index": [t.window_index for t in ts], "window_id": [t.window_id for t in ts],
        "tuple_index": [t.tuple_index for t in ts], "requested_source": [t.requested_source for t in ts],
        "edit_source": [t.edit_source for t in ts],
        "edits": [
            [{"rel_pos": e.rel_pos, "ref": e.ref, "alt": e.alt, "edit_type": e.edit_type, "source": src}
             for e, src in zip(t.rel_edits, t.edit_sources)]
            for t in ts
        ],
        "adjusted_side": [t.adjusted_side for t in ts],
    }
    if store_targets:
        columns["target_window"] = [t.target_window for t in ts]
    return windows, pa.table(columns, schema=tuples_schema(store_targets))


def tuples_schema(store_targets: bool) -> pa.Schema:
    if store_targets:
        return TUPLES_SCHEMA
    return TUPLES_SCHEMA.remove(TUPLES_SCHEMA.get_field_index("target_window"))


def write_shard(directory: Path, index: int, block: BlockResult, settings: OutputSettings) -> tuple[Counter, Counter]:
    """Write block ``index`` as ``windows/`` and ``tuples/part-<index>.parquet``; return its source counts.

    The same block gives the same bytes whichever process writes it.
    """
    windows, tuples = block_tables(block, settings.store_targets)
    compression = None if settings.compression == "none" else settings.compression
    name = f"part-{index:05d}.parquet"
    for table, sub in ((windows, "windows"), (tuples, "tuples")):
        pq.write_table(table, directory / sub / name, compression=compression,
                       compression_level=settings.compression_level,
                       use_dictionary=[c for c in table.column_names if c in DICTIONARY_COLUMNS])
    return (Counter(t.edit_source for t in block.tuples), Counter(t.requested_source for t in block.tuples))


class RunWriter:
    """Stages a run's shards under ``.partial/`` and publishes them with the manifest on ``commit``."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        for name in ("windows", "tuples", "config.yaml", "manifest.json"):
            if (self.run_dir / name).exists():
                raise InputError(
                    f"{self.run_dir / name} exists: this run dir already holds a build; "
                    "choose a new hydra.run.dir"
                )
        self.staging = self.run_dir / ".partial"
        shutil.rmtree(self.staging, ignore_errors=True)
        for sub in ("windows", "tuples"):
            (self.staging / sub).mkdir(parents=True)

    def commit(self, manifest: dict, config_yaml: str) -> Path:
        """Move the shards and the config into place, then write the manifest."""
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
        shutil.rmtree(self.staging, ignore_errors=True)


# What a worker process builds with, set once by _start_worker.
_WORKER: tuple[TupleBuilder, Path, OutputSettings] | None = None


def _start_worker(builder: TupleBuilder, staging: Path, settings: OutputSettings) -> None:
    global _WORKER
    _WORKER = (builder, staging, settings)


def _worker_shard(index: int, start: int, stop: int) -> tuple[BlockResult, Counter, Counter]:
    builder, staging, settings = _WORKER
    block = builder.run_block(start, stop)
    sources = write_shard(staging, index, block, settings)
    # The shard files hold the rows; only the counts travel back.
    block.windows, block.tuples = [], []
    return (block, *sources)


def _shards(
    builder: TupleBuilder, staging: Path, settings: OutputSettings, workers: int, plan: list[tuple[int, int, int]]
) -> Iterator[tuple]:
    """Build and write the shards of ``plan`` (``(block, start, stop)``); yield
    ``(block, by edit source, by requested source)`` in plan order.

    With ``workers`` > 1 the blocks of the window plan are built and written
    by that many processes; otherwise here, with a background thread writing
    one shard while the next is built.
    """
    if workers <= 1 or len(plan) < 2:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genolewm-parquet") as writer:
            pending: Future | None = None
            for index, start, stop in plan:
                block = builder.run_block(start, stop)
                if pending is not None:
                    yield pending.result()
                pending = writer.submit(lambda i=index, b=block: (b, *write_shard(staging, i, b, settings)))
            if pending is not None:
                yield pending.result()
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method),
        initializer=_start_worker, initargs=(builder, staging, settings),
    ) as pool:
        jobs = iter(plan)
        queued: deque[Future] = deque(pool.submit(_worker_shard, *job) for job in itertools.islice(jobs, 2 * workers))
        while queued:
            done = queued.popleft().result()
            for job in itertools.islice(jobs, 1):
                queued.append(pool.submit(_worker_shard, *job))
            yield done


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
    workers: int = 1,
    shard: Consumer = Consumer(),
) -> dict:
    """Build every tuple into ``run_dir`` and return the manifest written last.

    Shard ``k`` (``windows/`` and ``tuples/part-<k>.parquet``) holds block
    ``k`` of the window plan: ``output.windows_per_shard`` planned windows and
    their tuples. ``workers`` > 1 builds and writes the shards in that many
    processes; the files are the same whatever the number. ``shard`` keeps
    only the blocks ``k`` with ``k % shard.count == shard.index``: a complete
    run of its own, and the runs of all shard indices together hold exactly
    the unsharded build. On any error the staged files are removed and the
    error propagates.
    """
    if workers < 1:
        raise ConfigError(f"workers={workers}: must be >= 1")
    started = time.perf_counter()
    counts: Counter = Counter()
    fallbacks, variants_skipped, by_edit, by_requested = Counter(), Counter(), Counter(), Counter()
    writer = RunWriter(run_dir)
    plan = [(k, a, b) for k, (a, b) in enumerate(builder.plan_blocks(settings.windows_per_shard)) if shard.owns(k)]
    shards = _shards(builder, writer.staging, settings, workers, plan)
    try:
        with tqdm(
            total=sum(b - a for _, a, b in plan), unit="window", desc="build", disable=None if progress else True
        ) as bar:
            for block, edit_sources, requested_sources in shards:
                counts.update(seen=block.seen, skipped_n=block.skipped_n, kept=block.kept,
                              excluded_by_holdout=block.excluded_by_holdout, shards=1)
                fallbacks += block.fallbacks
                variants_skipped += block.variants_skipped
                by_edit += edit_sources
                by_requested += requested_sources
                bar.update(block.seen)
        elapsed = time.perf_counter() - started
        total = sum(by_edit.values())
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "seed": builder.seed,
            "split": builder.split,
            "shard": {"index": shard.index, "count": shard.count},
            "windows_per_shard": settings.windows_per_shard,
            "edge_margin": builder.edge_margin,
            "preserve_length": builder.preserve_length,
            "pad": builder.pad,
            "multi_edit": {"fraction": builder.multi_edit.fraction, "max_edits": builder.multi_edit.max_edits},
            "store_targets": settings.store_targets,
            "config_sha256": hashlib.sha256(config_yaml.encode()).hexdigest(),
            "holdout_sha256": builder.holdouts.digest(),
            "inputs": describe_inputs(input_paths, settings.hash_inputs),
            "windows": {
                key: counts[key] for key in ("seen", "kept", "excluded_by_holdout", "skipped_n")
            },
            "tuples": {
                "total": total,
                "by_edit_source": dict(sorted(by_edit.items())),
                "by_requested_source": dict(sorted(by_requested.items())),
            },
            "shards": counts["shards"],
            "fallbacks": dict(sorted(fallbacks.items())),
            "variants_skipped": dict(sorted(variants_skipped.items())),
            "elapsed_s": round(elapsed, 3),
            "tuples_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
        }
        writer.commit(manifest, config_yaml)
    except BaseException:
        shards.close()
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
