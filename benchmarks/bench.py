#!/usr/bin/env python3
"""Speed and memory of the build and the prepare step on the shared benchmark workload.

    python benchmarks/bench.py build WORKDIR [--scale 1] [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py dataset WORKDIR [--scale 1] [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py report WORKDIR [--scale 1] [OVERRIDE ...]
    python benchmarks/bench.py prepare WORKDIR [--scale 1] [OVERRIDE ...]

The workload (../shared/bench/make_workload.py: 16 Mbp chr1, 2 Mbp chr8,
1 Mbp chr21 at scale 1, ~190k gnomAD-like and ~4k ClinVar-like records) is
generated into WORKDIR/workload-<scale> unless it is there already.

build: one build per repeat -- default mix, holdout chr8 + the workload's
BED + its key list, Parquet output with targets; add ``workers=2`` to build
on both cores -- and prints the median tuples/s of the build (manifest
``tuples_per_s``: reading inputs, building, writing Parquet), of the whole
command (interpreter and Hydra start-up included), and the peak RSS of the
largest process and of the whole process tree.

dataset: builds the workload once (workers=2), then streams it through
``genolewm.dataset.RunDataset`` into collated tensors (batch 256) in one
process, and prints tuples/s for that one reader (a DataLoader worker's share).

report: builds the workload once (workers=2), then ``genolewm-report`` on it in a child process; prints
its seconds and peak RSS (compare scales: memory stays flat, the shards are streamed).

prepare: ``python -m genolewm.prepare source=gnomad`` on the workload's
gnomAD VCF with its reference; prints alleles/s and peak RSS (compare
scales: memory stays flat).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def workload(args: argparse.Namespace) -> Path:
    data = args.workdir / f"workload-{args.scale:g}"
    if not (data / "ref.fa.fai").is_file():
        subprocess.run([sys.executable, str(args.make_workload), str(data), "--scale", str(args.scale)], check=True)
    return data


PEAK_TREE_RSS_KB = 0


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), in KiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def timed(cmd: list[str]) -> float:
    """Run ``cmd``; return its wall time and record the peak RSS of its process tree (sampled every 10 ms)."""
    global PEAK_TREE_RSS_KB
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    while proc.poll() is None:
        PEAK_TREE_RSS_KB = max(PEAK_TREE_RSS_KB, _tree_rss_kb(proc.pid))
        time.sleep(0.01)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return time.perf_counter() - started


def peak_rss_mb() -> dict:
    # ru_maxrss: the largest single child process; the tree figure adds up build workers.
    return {
        "largest_process": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "process_tree_sampled": round(PEAK_TREE_RSS_KB / 1024, 1),
    }


def build_command(data: Path, run_dir: Path, overrides: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "genolewm.build", "mix=default", "holdout=rfc", "holdout.chroms=[chr8]",
        f"paths.reference={data / 'ref.fa'}", f"paths.gnomad={data / 'gnomad.vcf.gz'}",
        f"paths.clinvar={data / 'clinvar.vcf.gz'}", f"paths.holdout_bed={data / 'holdout.bed'}",
        f"paths.holdout_keys={data / 'edit_keys.txt'}", f"hydra.run.dir={run_dir}", *overrides,
    ]


def bench_dataset(args: argparse.Namespace, data: Path) -> dict:
    from genolewm.dataset import RunDataset

    run_dir = args.workdir / f"dataset-run-{args.scale:g}"
    if not (run_dir / "manifest.json").is_file():
        timed(build_command(data, run_dir, ["workers=2", *args.overrides]))
    rates = []
    for _ in range(args.repeat):
        started, n = time.perf_counter(), 0
        for batch in RunDataset(run_dir, batch_size=256):
            n += len(batch["tuple_index"])
        rates.append(n / (time.perf_counter() - started))
    return {"scale": args.scale, "tuples": n, "batch_size": 256, "repeats": args.repeat,
            "tuples_per_s_one_reader": round(statistics.median(rates), 1)}


def bench_build(args: argparse.Namespace, data: Path) -> dict:
    results = []
    for i in range(args.repeat):
        run_dir = args.workdir / f"run-{args.scale:g}-{int(time.time())}-{i}"
        wall = timed(build_command(data, run_dir, args.overrides))
        results.append((json.loads((run_dir / "manifest.json").read_text()), wall))
    total = results[0][0]["tuples"]["total"]
    return {
        "scale": args.scale,
        "windows_kept": results[0][0]["windows"]["kept"],
        "tuples": total,
        "repeats": args.repeat,
        "build_tuples_per_s": statistics.median(m["tuples_per_s"] for m, _ in results),
        "process_tuples_per_s": round(statistics.median(total / wall for _, wall in results), 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_report(args: argparse.Namespace, data: Path) -> dict:
    run_dir = args.workdir / f"dataset-run-{args.scale:g}"
    if not (run_dir / "manifest.json").is_file():
        timed(build_command(data, run_dir, ["workers=2", *args.overrides]))
    wall = timed([sys.executable, "-m", "genolewm.report", str(run_dir)])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {"scale": args.scale, "tuples": manifest["tuples"]["total"], "report_s": round(wall, 2),
            "peak_rss_mb": peak_rss_mb()}


def bench_prepare(args: argparse.Namespace, data: Path) -> dict:
    out = args.workdir / f"prepare-{args.scale:g}-{int(time.time())}"
    wall = timed([sys.executable, "-m", "genolewm.prepare", "source=gnomad", f"input={data / 'gnomad.vcf.gz'}",
                  f"reference={data / 'ref.fa'}", f"hydra.run.dir={out}", *args.overrides])
    report = json.loads((out / "gnomad.prepared.report.json").read_text())
    return {
        "scale": args.scale,
        "records_read": report["records_read"],
        "alleles_kept": report["alleles_kept"],
        "alleles_per_s": round(report["alleles_read"] / report["elapsed_s"], 1),
        "process_s": round(wall, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["build", "dataset", "report", "prepare"])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--make-workload", type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_workload.py",
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. output.store_targets=false")
    args = parser.parse_intermixed_args()
    data = workload(args)
    result = {"build": bench_build, "dataset": bench_dataset, "report": bench_report,
              "prepare": bench_prepare}[args.what](args, data)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
