#!/usr/bin/env python3
"""Build throughput and peak memory on the shared benchmark workload.

    python benchmarks/build_throughput.py WORKDIR [--scale 1.0] [--make-workload PATH/make_workload.py]

Generates the workload into WORKDIR/workload-<scale> if it is not there yet
(with ../shared/bench/make_workload.py by default), then runs one build
process -- default mix, holdout chr8 + the workload's BED + its key list,
Parquet output -- and prints tuples/s and the build's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--make-workload", type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_workload.py",
    )
    args = parser.parse_args()
    data = args.workdir / f"workload-{args.scale:g}"
    if not (data / "ref.fa.fai").is_file():
        subprocess.run([sys.executable, str(args.make_workload), str(data), "--scale", str(args.scale)], check=True)
    run_dir = args.workdir / f"run-{args.scale:g}-{int(time.time())}"
    cmd = [
        sys.executable, "-m", "genolewm.build", "mix=default", "holdout=rfc", "holdout.chroms=[chr8]",
        f"paths.reference={data / 'ref.fa'}", f"paths.gnomad={data / 'gnomad.vcf.gz'}",
        f"paths.clinvar={data / 'clinvar.vcf.gz'}", f"paths.holdout_bed={data / 'holdout.bed'}",
        f"paths.holdout_keys={data / 'edit_keys.txt'}", f"hydra.run.dir={run_dir}",
    ]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    manifest = json.loads((run_dir / "manifest.json").read_text())
    total = manifest["tuples"]["total"]
    print(json.dumps({
        "scale": args.scale,
        "windows_kept": manifest["windows"]["kept"],
        "tuples": total,
        "build_s": manifest["elapsed_s"],
        "tuples_per_s_build": manifest["tuples_per_s"],
        "process_wall_s": round(wall, 2),
        "tuples_per_s_end_to_end": round(total / wall, 1),
        "peak_rss_mb": round(peak_mb, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
