"""Building and writing the shards of a plan: here with a writer thread, or in worker processes.

Each worker process receives its whole job as one object (nothing is kept
in module state), takes the plan's blocks one at a time from a shared
queue, in plan order, so the workers stay busy whatever each block costs
and a window source or VCF reader only ever moves forward, and reports
each shard's counts through a second queue as soon as it is written.
"""

from __future__ import annotations

import os
import queue as queue_module
import signal
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..builder import TupleBuilder
from ..types import RunWriter

Plan = list[tuple[int, int, int]]  # (shard index, first plan index, stop plan index)
# Built blocks that may wait for the writer thread in a one-process build.
WRITES_AHEAD = 2


def build_shard(builder: TupleBuilder, writer: RunWriter, directory: Path, index: int, start: int, stop: int) -> dict:
    """Build plan block ``[start, stop)``, write it as shard ``index``; return its counts."""
    block = builder.run_block(start, stop)
    writer.write_shard(directory, index, block.windows, block.tuples)
    return {**block.counts(), "shard": index}


@dataclass
class ShardJob:
    """One worker: blocks taken from ``jobs`` until it yields None, each shard's counts put on ``results``."""

    builder: TupleBuilder
    writer: RunWriter
    directory: Path
    jobs: Any  # a Manager queue of (shard index, start, stop), then one None per worker
    results: Any  # a Manager queue
    stop: Any  # a Manager event: set when the run is abandoned

    def __call__(self) -> int:
        built = 0
        while not self.stop.is_set() and (job := self.jobs.get()) is not None:
            self.results.put(build_shard(self.builder, self.writer, self.directory, *job))
            built += 1
        return built


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In each worker and the queue manager: die with the build (or prepare), and leave Ctrl-C to it.

    Linux sends SIGKILL to the child when the build process ends, however it
    ends (SIGKILL included); the build itself handles SIGINT and SIGTERM and
    stops its workers, so they ignore SIGINT from the terminal.
    """
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: workers still stop when the build stops them
    if os.getppid() != parent:  # the build ended before the signal was armed
        os._exit(1)


def _here(builder: TupleBuilder, writer: RunWriter, directory: Path, plan: Plan) -> Iterator[dict]:
    # One thread writes shards while the next blocks are built; up to WRITES_AHEAD wait their turn, so a
    # slow write does not stop the building.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genolewm-writer") as pool:
        pending: deque[Future] = deque()
        for index, start, stop in plan:
            block = builder.run_block(start, stop)
            if len(pending) == WRITES_AHEAD:
                yield pending.popleft().result()
            pending.append(pool.submit(lambda i=index, b=block: (writer.write_shard(directory, i, b.windows, b.tuples),
                                                                 {**b.counts(), "shard": i})[1]))
        while pending:
            yield pending.popleft().result()


def _in_workers(builder: TupleBuilder, writer: RunWriter, directory: Path, plan: Plan, workers: int) -> Iterator[dict]:
    # Imported here: a one-process build (the default) starts without them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.managers import SyncManager

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    manager = SyncManager(ctx=context)
    manager.start(die_with_parent, (os.getpid(),))
    with manager:
        jobs, results, stop = manager.Queue(), manager.Queue(), manager.Event()
        for job in [*plan, *[None] * workers]:
            jobs.put(job)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent,
                                   initargs=(os.getpid(),))
        try:
            job = ShardJob(builder, writer, directory, jobs, results, stop)
            futures = [pool.submit(job) for _ in range(workers)]
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
