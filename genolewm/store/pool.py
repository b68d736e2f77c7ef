"""Building and writing the shards of a plan: here with a writer thread, or in worker processes.

Worker ``i`` of ``n`` builds the plan's blocks ``i, i + n, ...`` in order, so a
window source or VCF reader resumes where its last block ended, and reports
each shard's counts through a queue as soon as it is written. Nothing is
kept in module state: each worker receives its whole job as one object.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..builder import TupleBuilder
from ..types import RunWriter

Plan = list[tuple[int, int, int]]  # (shard index, first plan index, stop plan index)


def build_shard(builder: TupleBuilder, writer: RunWriter, directory: Path, index: int, start: int, stop: int) -> dict:
    """Build plan block ``[start, stop)``, write it as shard ``index``; return its counts."""
    block = builder.run_block(start, stop)
    writer.write_shard(directory, index, block.windows, block.tuples)
    return block.counts()


@dataclass
class ShardJob:
    """One worker's share of a plan: its blocks in order, each shard's counts put on ``results``."""

    builder: TupleBuilder
    writer: RunWriter
    directory: Path
    jobs: Plan
    results: Any  # a Manager queue
    stop: Any  # a Manager event: set when the run is abandoned

    def __call__(self) -> int:
        for index, start, stop in self.jobs:
            if self.stop.is_set():
                break
            self.results.put(build_shard(self.builder, self.writer, self.directory, index, start, stop))
        return len(self.jobs)


def _here(builder: TupleBuilder, writer: RunWriter, directory: Path, plan: Plan) -> Iterator[dict]:
    # One thread writes a shard while the next block is built.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genolewm-writer") as pool:
        pending: Future | None = None
        for index, start, stop in plan:
            block = builder.run_block(start, stop)
            if pending is not None:
                yield pending.result()
            pending = pool.submit(lambda i=index, b=block: (writer.write_shard(directory, i, b.windows, b.tuples),
                                                            b.counts())[1])
        if pending is not None:
            yield pending.result()


def _in_workers(builder: TupleBuilder, writer: RunWriter, directory: Path, plan: Plan, workers: int) -> Iterator[dict]:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Manager() as manager:
        results, stop = manager.Queue(), manager.Event()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            futures = [pool.submit(ShardJob(builder, writer, directory, plan[i::workers], results, stop))
                       for i in range(workers)]
            for _ in plan:
                while True:
                    try:
                        counts = results.get(timeout=0.2)
                        break
                    except queue_module.Empty:
                        for future in futures:
                            if future.done():
                                future.result()  # raises the worker's error
                yield counts
            for future in futures:
                future.result()
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)


def build_shards(builder: TupleBuilder, writer: RunWriter, directory: Path, plan: Plan, workers: int) -> Iterator[dict]:
    """Build and write the shards of ``plan``; yield each shard's counts once it is written.

    The files are the same for any number of ``workers``.
    """
    if workers <= 1 or len(plan) < 2:
        return _here(builder, writer, directory, plan)
    return _in_workers(builder, writer, directory, plan, min(workers, len(plan)))
