"""A Hydra callback that sums up a multirun: ``sweep_summary.csv`` in the sweep dir.

One row per job: its number, status (``ok``, ``failed`` with its one-line
error, or ``running``), its overrides (together, and one ``override.<key>``
column each) and its manifest's counts. Each job records its end in
``job.json`` in its own dir and rewrites the summary (under a lock, so the
last job to end writes every row), and the sweep rewrites it once more when
it ends; so a sweep in which jobs fail still gets its summary. Works with
any launcher (basic, joblib, submitit), since it only reads job directories.
"""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
COUNT_COLUMNS = ("windows.seen", "windows.kept", "windows.excluded_by_holdout", "windows.skipped_n", "tuples.total")


def job_row(job_dir: Path) -> dict[str, Any]:
    """The summary row of one job directory."""
    overrides = [str(o) for o in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")]
    row: dict[str, Any] = {"job": job_dir.name, "run_dir": str(job_dir), "overrides": " ".join(overrides)}
    for override in overrides:
        key, _, value = override.partition("=")
        row[f"override.{key.lstrip('+~')}"] = value
    manifest_path = job_dir / "manifest.json"
    if not manifest_path.is_file():
        ended = job_dir / JOB_FILE
        record = json.loads(ended.read_text()) if ended.is_file() else {"status": "running"}
        row.update(status=record["status"], error=record.get("error", ""))
        return row
    manifest = json.loads(manifest_path.read_text())
    row.update(status="ok", seed=manifest["seed"], split=manifest["split"],
               shard=f"{manifest['shard']['index']}/{manifest['shard']['count']}")
    for column in COUNT_COLUMNS:
        section, key = column.split(".")
        row[column] = manifest[section][key]
    for prefix in ("by_edit_source", "by_requested_source"):
        for source, n in manifest["tuples"][prefix].items():
            row[f"tuples.{prefix}.{source}"] = n
    row["fallbacks"] = sum(manifest["fallbacks"].values())
    row["variants_skipped"] = sum(manifest["variants_skipped"].values())
    row["elapsed_s"] = manifest["elapsed_s"]
    return row


def write_summary(sweep_dir: Path, filename: str = "sweep_summary.csv") -> Path:
    """Write the summary of every job directory under ``sweep_dir``; return its path."""
    with open(sweep_dir / ".summary.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write_summary(sweep_dir, filename)


def _write_summary(sweep_dir: Path, filename: str) -> Path:
    jobs = sorted((d for d in sweep_dir.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()),
                  key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))
    rows = [job_row(d) for d in jobs]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    path = sweep_dir / filename
    tmp = path.with_suffix(f".csv.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


class SweepSummary(Callback):
    def __init__(self, filename: str = "sweep_summary.csv") -> None:
        self.filename = filename

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra = HydraConfig.get()
        if hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(hydra.runtime.output_dir)
        record: dict[str, Any] = {"status": "ok" if job_return.status == JobStatus.COMPLETED else "failed"}
        if job_return.status == JobStatus.FAILED:
            error = job_return._return_value  # the job's exception; .return_value would raise it
            record["error"] = " ".join(str(error).split()) or type(error).__name__
        (job_dir / JOB_FILE).write_text(json.dumps(record) + "\n")
        write_summary(Path(hydra.sweep.dir), self.filename)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            log.info("sweep summary: %s", write_summary(sweep_dir, self.filename))
