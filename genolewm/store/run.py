"""Writing a run: every shard of the plan (or of this run's shard of a sweep), then the manifest."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Sequence

from ..builder import TupleBuilder
from ..errors import ConfigError
from ..logs import progress as progress_bar
from ..provenance import provenance, utc_now
from ..partition import Consumer
from ..types import RunWriter, digest
from .card import dataset_card
from .manifest import SCHEMA_VERSION, Totals, data_identity, describe_inputs
from .pool import build_shards
from .staging import Staging, write_error

log = logging.getLogger(__name__)
# Allocations between collections of the youngest generation while a build runs (Python's default: 700).
RARE_COLLECTIONS = 100_000


def write_run(
    builder: TupleBuilder,
    run_dir: str | os.PathLike,
    writer: RunWriter,
    *,
    config_yaml: str,
    progress: bool = True,
    workers: int = 1,
    shard: Consumer = Consumer(),
    overwrite: bool = False,
    overrides: Sequence[str] = (),
) -> dict:
    """Build every tuple into ``run_dir`` and return the manifest written last.

    Shard ``k`` holds block ``k`` of the window plan: ``writer.windows_per_shard``
    planned windows and their tuples, in the writer's format. ``workers`` > 1
    builds and writes the shards in that many processes; the files are the
    same whatever the number. ``shard`` keeps only the blocks ``k`` with
    ``k % shard.count == shard.index``: a complete run of its own, and the
    runs of all shard indices together hold exactly the unsharded build. The
    manifest hashes exactly the files the components say they read. One
    build per dir: another build writing it, or a finished run in it
    (unless ``overwrite``), is refused before anything is written. On any
    error the staged files are removed and the error propagates; a failed
    write is an `InputError` naming the path. ``overrides`` (the
    command line's) go into the manifest's ``provenance``.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers={workers!r}: must be an integer >= 1")
    started, started_utc = time.perf_counter(), utc_now()
    staging = Staging(run_dir, writer.layout(), overwrite)
    plan = [(k, a, b) for k, (a, b) in enumerate(builder.plan_blocks(writer.windows_per_shard)) if shard.owns(k)]
    totals = Totals()
    shards = build_shards(builder, writer, staging.staging, plan, workers)
    thresholds = gc.get_threshold()
    # A build makes millions of small objects that hold no reference cycles and die by reference
    # counting; the cycle collector's passes over them cost ~7% of a build, so they are made rarer.
    gc.set_threshold(RARE_COLLECTIONS, *thresholds[1:])
    try:
        planned = sum(b - a for _, a, b in plan)
        with progress_bar(log, progress, "build: windows", planned, "window") as update:
            for counts in shards:
                totals.add(counts)
                update(counts["windows"]["seen"], f", {sum(totals.by_edit.values())} tuples")
        elapsed = time.perf_counter() - started
        manifest = _manifest(builder, writer, config_yaml, shard, totals, elapsed)
        manifest["provenance"] = provenance(list(overrides), started_utc)
        staging.commit(manifest, config_yaml, dataset_card(manifest, writer))
    except OSError as exc:
        shards.close()
        staging.abort()
        raise write_error(Path(exc.filename or staging.staging), exc) from exc
    except BaseException:
        shards.close()
        staging.abort()
        raise
    finally:
        gc.set_threshold(*thresholds)
    return manifest


def _manifest(builder: TupleBuilder, writer: RunWriter, config_yaml: str, shard: Consumer, totals: Totals,
              elapsed: float) -> dict:
    settings = builder.settings
    inputs = describe_inputs(builder.inputs(), writer.hash_inputs)
    identity = data_identity(builder, inputs)
    section = totals.section()
    total = section["tuples"]["total"]
    return {
        "schema_version": SCHEMA_VERSION,
        "format": writer.describe(),
        "seed": builder.seed,
        "split": builder.split,
        "shard": {"index": shard.index, "count": shard.count},
        "windows_per_shard": writer.windows_per_shard,
        "edge_margin": settings.edge_margin,
        "preserve_length": settings.preserve_length,
        "pad": settings.pad,
        "mix": settings.mix.to_dict(),
        "vocabulary": builder.vocabulary().to_dict(),
        "store_targets": writer.store_targets,
        "config_sha256": hashlib.sha256(config_yaml.encode()).hexdigest(),
        "data_identity": identity,
        "data_sha256": digest(identity),
        "inputs": inputs,
        **section,
        "sequences": builder.sequences(),
        "warnings": _warnings(builder, section),
        "elapsed_s": round(elapsed, 3),
        "tuples_per_s": round(total / elapsed, 1) if elapsed > 0 else None,
    }


def _warnings(builder: TupleBuilder, section: dict) -> list[str]:
    """A mix source that served no edit in the whole run: its data may be missing or filtered away."""
    served = {source for key in section["tuples"]["by_edit_source"] for source in key.split("+")}
    out = []
    for source in builder.settings.mix.per_window:
        unplaced_by_design = builder.providers[source].placed and not builder.windows.placed
        if section["windows"]["kept"] and source not in served and not unplaced_by_design:
            where = ", ".join(builder.providers[source].inputs()) or "its draws"
            out.append(f"providers.{source} served no edit in {section['windows']['kept']} windows "
                       f"(fallbacks filled its slots); check {where} and its filter")
    for message in out:
        log.warning(message)
    return out
