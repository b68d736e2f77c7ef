#!/usr/bin/env python3
"""Speed and memory of the build, the datasets, the report and the prepare step on the shared benchmark workload.

    python benchmarks/bench.py build WORKDIR [--scale 1] [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py dataset WORKDIR [--scale 1] [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py report WORKDIR [--scale 1] [OVERRIDE ...]
    python benchmarks/bench.py prepare WORKDIR [--scale 1] [OVERRIDE ...]
    python benchmarks/bench.py info WORKDIR [--scale 1] [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py haplotypes WORKDIR [--repeat 3] [OVERRIDE ...]
    python benchmarks/bench.py table WORKDIR [--baseline REF ...] [--repeat 3]

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

prepare: the workload's gnomAD records written as gnomAD v4.1 joint files
write them (see info), then side by side, rounds interleaved:
``genolewm-prepare`` with one and two workers, ``bcftools view`` keeping
the same alleles (``-f PASS -i 'INFO/AF_joint>=0.01 && ...'``, compressed
output and uncompressed BCF to /dev/null) and ``bgzip -dc`` (the floor);
prints a Markdown table of seconds, records/s, compressed MB/s, peak RSS
per process and the projected time for chr1 of the joint release, whole
commands (start-up included). bcftools and bgzip come from Debian's
``bcftools`` and ``tabix`` packages, installed when missing (as root).

info: the cost of heavy INFO. The workload's gnomAD records are written as
gnomAD v4.1 joint files write them (``AF_joint`` and no ``AF``, ~3 KB of
INFO per record, most of it ``vep``), and again with only ``AF_joint`` kept
(what ``bcftools annotate -x '^INFO/AF_joint'`` leaves); prints the build's
seconds on each (manifest ``elapsed_s``, rounds interleaved), the seconds
to decompress the heavy file (htslib's BGZF through pysam, and ``bgzip -dc``
where it is installed), and the extra build time over that decompression.

haplotypes: a phased panel shaped like the 1000 Genomes 30x release
(genolewm/panels.py: 3,202 samples, 1 Mbp of chr22, 40,000 records with the
neutral allele-frequency spectrum, made once into WORKDIR/haplotypes);
times ``genolewm-prepare source=haplotypes`` on it (seconds, peak RSS, the
store's size against the VCF's), then builds haplotype tuples only (64 a
window, the default windows, 32 windows a shard so that building and
writing overlap as on a chromosome) in one process, and prints the median
tuples/s (manifest ``tuples_per_s`` and whole command), the mean edits per
haplotype tuple and the peak RSS; overrides change the build (e.g.
``windows.stride_bp=1024 mix.counts.haplotypes=8``).

table: every figure of the performance targets in one Markdown table, for
this tree and, with ``--baseline REF`` (a git ref of this repository,
checked out once into WORKDIR/baseline-REF; repeat it for several), for
that code measured in the same run, rounds interleaved, with the speed-up
over each: the build at scales 1 and 4 with one and two processes
(manifest ``tuples_per_s``, whole command, start-up, tuples per CPU second,
byte-identical output), the live dataset, ``RunDataset`` from Parquet with
and without stored targets and from ``output=arrays`` (also with glibc's
malloc keeping freed memory, see MALLOC_KEEPS), peak RSS per process, and
disk per tuple.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def workload(args: argparse.Namespace) -> Path:
    data = args.workdir / f"workload-{args.scale:g}"
    if not (data / "ref.fa.fai").is_file():
        subprocess.run([sys.executable, str(args.make_workload), str(data), "--scale", str(args.scale)], check=True)
    return data


PEAK_TREE_RSS_KB = 0


def _tree_rss_kb(pid: int, recurse: bool = True) -> int:
    """Resident memory of ``pid`` and (``recurse``) all its descendants (Linux /proc), in KiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            if recurse:
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


def workload_overrides(data: Path) -> list[str]:
    return [
        "mix=default", "holdout=rfc", "holdout.chroms=[chr8]",
        f"paths.reference={data / 'ref.fa'}", f"paths.gnomad={data / 'gnomad.vcf.gz'}",
        f"paths.clinvar={data / 'clinvar.vcf.gz'}", f"paths.holdout_bed={data / 'holdout.bed'}",
        f"paths.holdout_keys={data / 'edit_keys.txt'}",
    ]


def build_command(data: Path, run_dir: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "genolewm.build", *workload_overrides(data), f"hydra.run.dir={run_dir}", *overrides]


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


def ensure_tools() -> None:
    """bcftools and bgzip (Debian's ``bcftools`` and ``tabix`` packages) for the side-by-side figures:
    installed when missing, where this runs as root with apt-get."""
    missing = [package for tool, package in (("bcftools", "bcftools"), ("bgzip", "tabix")) if not shutil.which(tool)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(["apt-get", "install", "-y", "-qq", *missing], **quiet).returncode:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, **quiet)


def _process_rss_kb(pid: int) -> list[int]:
    """Resident memory of ``pid`` and of each of its descendants, one figure per process, in KiB."""
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(_tree_rss_kb(p, recurse=False))
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def timed_each(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Run ``cmd``; return its wall time and the peak RSS of its largest process (sampled every 50 ms, so
    that sampling takes little of the two cores measured), KiB."""
    started, peak = time.perf_counter(), 0
    proc = subprocess.Popen(cmd, stdout=stdout)
    while proc.poll() is None:
        peak = max(peak, *_process_rss_kb(proc.pid))
        time.sleep(0.05)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return time.perf_counter() - started, peak


CHR1_JOINT_BYTES = 67e9  # gnomAD v4.1 joint, chr1, compressed
JOINT_RELEASE_BYTES = 817e9


def bench_prepare(args: argparse.Namespace, data: Path) -> dict:
    """genolewm-prepare with one and two workers, bcftools view and bgzip -dc on the joint-shaped file."""
    import gzip

    from genolewm.bgzf import read_tbi

    ensure_tools()
    heavy, _ = heavy_info_files(data)
    records = sum(read_tbi((heavy.parent / (heavy.name + ".tbi")).read_bytes(), str(heavy)).records.values())
    size = os.path.getsize(heavy)
    out = args.workdir / f"prepare-{args.scale:g}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    keep = "INFO/AF_joint>=0.01 && strlen(REF)<=16 && strlen(ALT)<=16"

    def ours(workers: int) -> list[str]:
        return [sys.executable, "-m", "genolewm.prepare", "source=gnomad", "providers=gnomad_v4_joint",
                f"input={heavy}", f"output={out / f'w{workers}.vcf.gz'}", f"workers={workers}",
                f"work_dir={out / 'work'}", f"hydra.run.dir={out / f'run{workers}'}", *args.overrides]

    rows = {
        "genolewm-prepare, workers=1": (ours(1), subprocess.DEVNULL),
        "genolewm-prepare, workers=2": (ours(2), subprocess.DEVNULL),
        f"bcftools view -f PASS -i '{keep}' -Oz": (
            ["bcftools", "view", "-f", "PASS", "-i", keep, "-Oz", "-o", str(out / "bcftools.vcf.gz"), str(heavy)],
            subprocess.DEVNULL),
        f"bcftools view -f PASS -i '{keep}' -Ou > /dev/null": (
            ["bcftools", "view", "-f", "PASS", "-i", keep, "-Ou", str(heavy)], subprocess.DEVNULL),
        "bgzip -dc > /dev/null": (["bgzip", "-dc", str(heavy)], subprocess.DEVNULL),
    }
    seconds: dict[str, list[float]] = {name: [] for name in rows}
    rss: dict[str, int] = dict.fromkeys(rows, 0)
    for _ in range(args.repeat):
        for name, (cmd, stdout) in rows.items():
            wall, peak = timed_each(cmd, stdout)
            seconds[name].append(wall)
            rss[name] = max(rss[name], peak)
    same = (out / "w1.vcf.gz").read_bytes() == (out / "w2.vcf.gz").read_bytes()
    report = json.loads((out / "w1.report.json").read_text())
    with gzip.open(out / "bcftools.vcf.gz", "rb") as kept:
        kept_bcftools = sum(1 for line in kept if not line.startswith(b"#"))
    median = {name: statistics.median(v) for name, v in seconds.items()}
    lines = ["| command | seconds | records/s | compressed MB/s | peak RSS per process (MB) | chr1 of the joint "
             "release (67 GB), projected |", "|---|---:|---:|---:|---:|---:|"]
    for name, wall in median.items():
        rate = size / wall
        lines.append(f"| `{name}` | {wall:.2f} | {records / wall:,.0f} | {rate / 1e6:.1f} | {rss[name] / 1024:.0f} | "
                     f"{CHR1_JOINT_BYTES / rate / 60:.0f} min |")
    w1, w2 = median["genolewm-prepare, workers=1"], median["genolewm-prepare, workers=2"]
    bcf = median[f"bcftools view -f PASS -i '{keep}' -Ou > /dev/null"]
    return {
        "scale": args.scale, "repeats": args.repeat, "records": records, "compressed_mb": round(size / 1e6, 1),
        "compressed_bytes_per_record": round(size / records),
        "alleles_kept": report["alleles_kept"], "records_kept_by_bcftools": kept_bcftools,
        "parts": report["parts"], "workers_1_2_identical": same,
        "speedup_workers_2": round(w1 / w2, 2), "workers_1_over_bcftools_u": round(bcf / w1, 2),
        "release_hours_workers_2": round(JOINT_RELEASE_BYTES / (size / w2) / 3600, 1),
        "table": "\n".join(lines),
    }


JOINT_POPS = ("afr", "amr", "asj", "eas", "fin", "mid", "nfe", "sas", "remaining")


def _joint_info(af: str, k: int) -> str:
    """~3 KB of gnomAD-v4.1-joint-shaped INFO around ``AF_joint``: counts per population and sex, group
    maxima, and a ``vep`` of several transcripts."""
    items = [f"AC_joint={k % 97}", "AN_joint=1613294", f"AF_joint={af}", f"nhomalt_joint={k % 5}"]
    for pop in JOINT_POPS:
        for sex in ("", "_XX", "_XY"):
            items += [f"AC_joint_{pop}{sex}={k % 13}", f"AN_joint_{pop}{sex}=96000",
                      f"AF_joint_{pop}{sex}={(k % 13) / 96000:.5e}"]
    items += ["grpmax_joint=nfe", f"fafmax_faf95_max_joint={(k % 7) / 1e4:.5e}", "fafmax_faf95_max_gen_anc_joint=nfe"]
    vep = ",".join(f"A|intron_variant|MODIFIER|GENE{t}|ENSG{k:011d}|Transcript|ENST{k + t:011d}|protein_coding||"
                   f"{t + 2}/11|ENST{k + t:011d}.5:c.{k % 3000}+{t}A>G|||||||1||1||SNV|HGNC|HGNC:{k % 50000}|"
                   f"{'YES' if t == 0 else ''}|||1|P1|CCDS{k}.1|ENSP{k + t:011d}||Ensembl|PANTHER:PTHR{k % 99999}|||||"
                   "|||||" for t in range(6))
    return ";".join(items) + f";vep={vep}"


def heavy_info_files(data: Path) -> tuple[Path, Path]:
    """The workload's gnomAD records as a joint-shaped file, and the same with only AF_joint (bgzipped,
    indexed), made once."""
    import gzip

    import pysam

    heavy, light = data / "gnomad.joint.vcf.gz", data / "gnomad.joint.af_only.vcf.gz"
    if heavy.is_file() and light.is_file():
        return heavy, light
    declared = ['##INFO=<ID=AF_joint,Number=A,Type=Float,Description="Alternate allele frequency, joint">']
    extra = [f'##INFO=<ID={key},Number={n},Type={t},Description="{key}">' for key, n, t in
             [("AC_joint", "A", "Integer"), ("AN_joint", 1, "Integer"), ("nhomalt_joint", "A", "Integer")]
             + [(f"{stat}_joint_{pop}{sex}", "A" if stat != "AN" else 1, "Float" if stat == "AF" else "Integer")
                for pop in JOINT_POPS for sex in ("", "_XX", "_XY") for stat in ("AC", "AN", "AF")]
             + [("grpmax_joint", "A", "String"), ("fafmax_faf95_max_joint", "A", "Float"),
                ("fafmax_faf95_max_gen_anc_joint", "A", "String"), ("vep", ".", "String")]]
    with gzip.open(data / "gnomad.vcf.gz", "rt") as src, open(heavy.with_suffix(""), "w") as h, \
            open(light.with_suffix(""), "w") as l:
        for k, line in enumerate(src):
            if line.startswith("##INFO"):
                continue
            if line.startswith("#CHROM"):
                h.write("\n".join(declared + extra) + "\n")
                l.write("\n".join(declared) + "\n")
            if line.startswith("#"):
                h.write(line)
                l.write(line)
                continue
            cols = line.rstrip("\n").split("\t")
            af = next((item[3:] for item in cols[7].split(";") if item.startswith("AF=")), ".")
            h.write("\t".join(cols[:7] + [_joint_info(af, k)]) + "\n")
            l.write("\t".join(cols[:7] + [f"AF_joint={af}"]) + "\n")
    for path in (heavy, light):
        pysam.tabix_index(str(path.with_suffix("")), preset="vcf", force=True)
    return heavy, light


def bench_info(args: argparse.Namespace, data: Path) -> dict:
    import pysam

    heavy, light = heavy_info_files(data)
    overrides = ["providers=gnomad_v4_joint", *args.overrides]

    def decompress() -> tuple[float, int]:
        started, size = time.perf_counter(), 0
        with pysam.BGZFile(str(heavy), "rb") as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
        return time.perf_counter() - started, size

    builds: dict[str, list[float]] = {"heavy": [], "light": []}
    unpack, unpack_tool = [], []
    for i in range(args.repeat):
        for name, path in (("heavy", heavy), ("light", light)):
            run_dir = args.workdir / f"info-{name}-{args.scale:g}-{int(time.time())}-{i}"
            timed(build_command(data, run_dir, [f"paths.gnomad={path}", *overrides]))
            builds[name].append(json.loads((run_dir / "manifest.json").read_text())["elapsed_s"])
            shutil.rmtree(run_dir)
        seconds, text_bytes = decompress()
        unpack.append(seconds)
        if shutil.which("bgzip"):
            started = time.perf_counter()
            subprocess.run(["bgzip", "-dc", str(heavy)], stdout=subprocess.DEVNULL, check=True)
            unpack_tool.append(time.perf_counter() - started)
    heavy_s, light_s, unpack_s = (statistics.median(v) for v in (builds["heavy"], builds["light"], unpack))
    lines = sum(1 for _ in pysam.TabixFile(str(light)).fetch())
    return {
        "scale": args.scale, "records": lines, "repeats": args.repeat,
        "bytes_per_record": round(text_bytes / max(lines, 1)),
        "heavy_mb_compressed": round(os.path.getsize(heavy) / 1e6, 1),
        "build_s_heavy_info": heavy_s, "build_s_af_joint_only": light_s,
        "decompress_s_htslib": round(unpack_s, 3),
        "decompress_s_bgzip_dc": round(statistics.median(unpack_tool), 3) if unpack_tool else None,
        "extra_s": round(heavy_s - light_s, 3),
        "extra_over_decompress": round((heavy_s - light_s) / unpack_s, 2),
        "extra_over_bgzip_dc": round((heavy_s - light_s) / statistics.median(unpack_tool), 2) if unpack_tool else None,
        "heavy_over_light": round(heavy_s / light_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


# Run in a child process whose working directory is the code measured, so ``import genolewm`` is that tree.
LIVE = """
import os, sys, time
from hydra import compose, initialize_config_dir
from genolewm.config import CONFIG_PATH, absolute_paths, make_builder
from genolewm.dataset import GenoLeWMDataset
with initialize_config_dir(config_dir=os.path.abspath(CONFIG_PATH), version_base="1.3"):
    cfg = compose("build", overrides=sys.argv[1:])
absolute_paths(cfg)
builder = make_builder(cfg)[0]
started, n = time.perf_counter(), 0
for item in GenoLeWMDataset.from_builder(builder):
    n += len(item.target_window) > 0
print(n / (time.perf_counter() - started))
"""
READ = """
import sys, time
from genolewm.dataset import RunDataset
started, n = time.perf_counter(), 0
for batch in RunDataset(sys.argv[1], batch_size=256):
    n += len(batch["tuple_index"])
print(n / (time.perf_counter() - started))
"""


# glibc's malloc returning each freed batch to the system, then faulting fresh pages in for the next
# batch, is part of a reader's cost; these settings keep freed memory for reuse.
MALLOC_KEEPS = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}


def child(code: Path, script: str, args: list[str], env: dict | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=code, check=True, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    return float(out.stdout.split()[-1])


def data_files(run_dir: Path) -> list[Path]:
    """The shard files of a run (``tuples/``, ``windows/``, ``arrays/``)."""
    return sorted(p for sub in ("tuples", "windows", "arrays") for p in (run_dir / sub).rglob("*") if p.is_file())


def data_digest(run_dir: Path) -> str:
    """sha256 over the run's shard files (names and bytes): equal for byte-identical outputs."""
    digest = hashlib.sha256()
    for path in data_files(run_dir):
        digest.update(str(path.relative_to(run_dir)).encode() + path.read_bytes())
    return digest.hexdigest()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_once(code: Path, data: Path, run_dir: Path, overrides: list[str]) -> dict:
    started, cpu = time.perf_counter(), _children_cpu_s()
    proc = subprocess.Popen(build_command(data, run_dir, overrides), cwd=code, stdout=subprocess.DEVNULL)
    largest = 0
    while proc.poll() is None:
        for pid in [proc.pid, *_children(proc.pid)]:
            largest = max(largest, _tree_rss_kb(pid, recurse=False))
        time.sleep(0.01)
    wall = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu  # the command and its workers: steadier than wall time on a shared machine
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {"manifest": manifest["tuples_per_s"], "command": manifest["tuples"]["total"] / wall,
            "startup": wall - manifest["elapsed_s"], "rss_mb": largest / 1024, "digest": data_digest(run_dir),
            "per_cpu_s": manifest["tuples"]["total"] / cpu,
            "tuples": manifest["tuples"]["total"],
            "bytes": sum(p.stat().st_size for p in data_files(run_dir))}


def _children(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(c) for c in (task / "children").read_text().split()]
                out += kids
                stack += kids
        except OSError:
            continue
    return out


def table(args: argparse.Namespace) -> str:
    codes = {"this tree": REPO}
    for ref in args.baseline:
        base = args.workdir / f"baseline-{ref}"
        if not base.is_dir():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), ref],
                           check=True, capture_output=True)
        codes[f"baseline {ref}"] = base
    data = {scale: workload(argparse.Namespace(**{**vars(args), "scale": scale})) for scale in (1.0, 4.0)}
    results: dict[str, dict[str, list]] = {name: {} for name in codes}

    def record(name: str, key: str, value) -> None:
        results[name].setdefault(key, []).append(value)

    runs = args.workdir / "table-runs"
    shutil.rmtree(runs, ignore_errors=True)  # scratch runs of an earlier table: a build refuses a finished run
    for round_ in range(args.repeat):
        for name, code in codes.items():
            tag = f"{round_}-{'tree' if code == REPO else code.name}"
            for scale, workers, lean in BUILDS:
                label = f"s{scale:g} w{workers}{' lean' if lean else ''}"
                run_dir = runs / f"build-{tag}-{label.replace(' ', '-')}"
                got = build_once(code, data[scale], run_dir,
                                 [f"workers={workers}", *(["output.store_targets=false"] if lean else [])])
                for key in ("manifest", "command", "startup", "rss_mb", "digest", "tuples", "bytes", "per_cpu_s"):
                    record(name, f"{key} {label}", got[key])
            lean = runs / f"build-{tag}-s1-w2-lean"
            arrays = runs / f"arrays-{tag}"
            build_once(code, data[1.0], arrays, ["workers=2", "output=arrays"])
            record(name, "live", child(code, LIVE, workload_overrides(data[1.0])))
            for key, run_dir in (("read parquet", runs / f"build-{tag}-s1-w2"), ("read lean", lean),
                                 ("read arrays", arrays)):
                record(name, key, child(code, READ, [str(run_dir)]))
            for key, run_dir in (("read parquet malloc", runs / f"build-{tag}-s1-w2"), ("read arrays malloc", arrays)):
                record(name, key, child(code, READ, [str(run_dir)], MALLOC_KEEPS))
    return render(results)


# (scale, workers, without stored targets) of each build a round runs.
BUILDS = [(1.0, 1, False), (1.0, 2, False), (4.0, 1, False), (4.0, 2, False), (4.0, 1, True), (4.0, 2, True),
          (1.0, 2, True)]
ROWS = [
    ("build, workers=1, scale 4 (manifest tuples/s)", "manifest s4 w1", "10x the seed's builder"),
    ("build, workers=1, scale 1 (manifest tuples/s)", "manifest s1 w1", ""),
    ("whole command, workers=1, scale 1 (tuples/s)", "command s1 w1", ">= 20,000"),
    ("start-up and finish, workers=1, scale 1 (s)", "startup s1 w1", "<= 0.3"),
    ("whole command, workers=1, scale 4 (tuples per CPU second, all threads)", "per_cpu_s s4 w1", ""),
    ("build, workers=2, scale 4 (manifest tuples/s)", "manifest s4 w2", ""),
    ("build, workers=2, scale 1 (manifest tuples/s)", "manifest s1 w2", ""),
    ("build, workers=1, scale 4, store_targets=false (manifest tuples/s)", "manifest s4 w1 lean", ">= 30,000"),
    ("build, workers=2, scale 4, store_targets=false (manifest tuples/s)", "manifest s4 w2 lean", ""),
    ("live GenoLeWMDataset, one process, targets (tuples/s)", "live", ">= 40,000"),
    ("RunDataset from Parquet, run with stored targets (tuples/s)", "read parquet", ">= 100,000"),
    ("RunDataset from Parquet, run without stored targets (tuples/s)", "read lean", ">= 100,000"),
    ("RunDataset from output=arrays (tuples/s)", "read arrays", ">= 400,000"),
    ("RunDataset from Parquet, stored targets, malloc keeping freed memory (tuples/s)", "read parquet malloc", ""),
    ("RunDataset from output=arrays, malloc keeping freed memory (tuples/s)", "read arrays malloc", ""),
    ("peak RSS, largest process, workers=1, scale 1 (MB)", "rss_mb s1 w1", "<= 300"),
    ("peak RSS, largest process, workers=1, scale 4 (MB)", "rss_mb s4 w1", "<= 300, flat"),
]


def render(results: dict[str, dict[str, list]]) -> str:
    names = list(results)
    head = ["figure", *names] + [f"speed-up over {name}" for name in names[1:]] + ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def median(name: str, key: str) -> float:
        return statistics.median(results[name][key])

    for label, key, target in ROWS:
        values = [median(name, key) for name in names]
        cells = [f"{v:,.2f}" if v < 10 else f"{v:,.0f}" for v in values]
        lower_is_better = key.startswith(("startup", "rss"))
        cells += [f"{(v / values[0] if lower_is_better else values[0] / v):.2f}x" for v in values[1:]]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    for name in names:
        r = results[name]
        ratios = {lean: statistics.median(a / b for a, b in zip(r[f"manifest s4 w2{lean}"], r[f"manifest s4 w1{lean}"]))
                  for lean in ("", " lean")}
        same = all(len(set(r[f"digest s{s} w1{lean}"] + r[f"digest s{s} w2{lean}"])) == 1
                   for s, lean in (("1", ""), ("4", ""), ("4", " lean")))
        per_tuple = statistics.median(r["bytes s1 w1"]) / r["tuples s1 w1"][0]
        lean = statistics.median(r["bytes s1 w2 lean"]) / r["tuples s1 w1"][0]
        lines.append(f"\n{name}: workers=2 / workers=1 at scale 4: {ratios['']:.2f}x, {ratios[' lean']:.2f}x without "
                     f"stored targets; output byte-identical across workers and rounds: "
                     f"{'yes' if same else 'NO'}; disk per tuple (scale 1, Parquet): {per_tuple:,.0f} B with targets, "
                     f"{lean:,.0f} B without")
    return "\n".join(lines)


PANEL_SAMPLES, PANEL_BP, PANEL_RECORDS = 3_202, 1_000_000, 40_000


def panel_files(workdir: Path) -> tuple[Path, Path]:
    """A reference of PANEL_BP random bases (chr22) and a phased panel over it shaped like the 1000 Genomes
    30x release (genolewm/panels.py): PANEL_SAMPLES samples, PANEL_RECORDS records; made once."""
    import random

    import pysam

    from genolewm.panels import write_panel

    out = workdir / "haplotypes"
    fasta, vcf = out / "ref.fa", out / "panel.vcf.gz"
    if not (vcf.parent / (vcf.name + ".tbi")).is_file():
        out.mkdir(parents=True, exist_ok=True)
        rng = random.Random(22)
        sequence = "".join(rng.choice("ACGT") for _ in range(PANEL_BP))
        fasta.write_text(">chr22\n" + "\n".join(sequence[i : i + 60] for i in range(0, PANEL_BP, 60)) + "\n")
        pysam.faidx(str(fasta))
        write_panel(vcf, sequence, samples=PANEL_SAMPLES, records=PANEL_RECORDS, seed=22, oddities=True,
                    keep_carriers=False)
    return fasta, vcf


def bench_haplotypes(args: argparse.Namespace, data: Path | None) -> dict:
    """Prepare the panel into a store, then build haplotype tuples from it in one process."""
    fasta, vcf = panel_files(args.workdir)
    store = args.workdir / "haplotypes" / "panel.haplotypes"
    shutil.rmtree(store, ignore_errors=True)
    prepare_s, prepare_kb = timed_each([
        sys.executable, "-m", "genolewm.prepare", "source=haplotypes", f"input={vcf}", f"output={store}",
        f"work_dir={args.workdir / 'haplotypes' / 'work'}", f"hydra.run.dir={args.workdir / 'haplotypes' / 'prep'}"])
    store_bytes = sum(f.stat().st_size for f in store.iterdir())
    # Only haplotype slots, 64 a window of the default tiling; the default sources read the panel as a VCF
    # but draw nothing. 1 Mbp makes 120 windows: 32 a shard gives the writer thread shards to write while
    # the next is built, as a chromosome's 256-window shards do (one shard is built, then written).
    overrides = ["providers=with_haplotypes", "mix=haplotypes", "paths=user", f"paths.reference={fasta}",
                 f"paths.haplotypes={store}", f"paths.gnomad={vcf}", f"paths.clinvar={vcf}",
                 "providers.clinvar.clnsig=null", "mix.counts.gnomad_common=0", "mix.counts.clinvar=0",
                 "mix.counts.synthetic_snv=0", "mix.counts.synthetic_indel=0", "mix.counts.haplotypes=64",
                 "output.windows_per_shard=32", *args.overrides]
    results = []
    for i in range(args.repeat):
        run_dir = args.workdir / "haplotypes" / f"run-{int(time.time())}-{i}"
        wall, peak = timed_each([sys.executable, "-m", "genolewm.build", *overrides, f"hydra.run.dir={run_dir}"])
        manifest = json.loads((run_dir / "manifest.json").read_text())
        results.append((manifest, wall, peak))
        if i == 0:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            table = pq.read_table(run_dir / "tuples", columns=["edit_source", "edits"])
            table = table.filter(pc.equal(table["edit_source"], "haplotypes"))
            edits_per_tuple = round(float(pc.mean(pc.list_value_length(table["edits"])).as_py() or 0), 2)
        shutil.rmtree(run_dir)
    manifest = results[0][0]
    served = manifest["tuples"]["by_edit_source"].get("haplotypes", 0)
    return {
        "panel": {"samples": PANEL_SAMPLES, "bp": PANEL_BP, "records": PANEL_RECORDS,
                  "vcf_mb": round(os.path.getsize(vcf) / 1e6, 1)},
        "prepare_s": round(prepare_s, 1), "prepare_peak_rss_mb": round(prepare_kb / 1024, 1),
        "store_mb": round(store_bytes / 1e6, 1), "store_over_vcf": round(store_bytes / os.path.getsize(vcf), 2),
        "tuples": manifest["tuples"]["total"], "served_by_haplotypes": served,
        "edits_per_haplotype_tuple": edits_per_tuple,
        "repeats": args.repeat,
        "build_tuples_per_s": statistics.median(m["tuples_per_s"] for m, _, _ in results),
        "process_tuples_per_s": round(statistics.median(m["tuples"]["total"] / w for m, w, _ in results), 1),
        "build_peak_rss_mb": round(max(p for _, _, p in results) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["build", "dataset", "report", "prepare", "info", "haplotypes", "table"])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--make-workload", type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_workload.py",
    )
    parser.add_argument("--baseline", action="append", default=[],
                        help="table: also measure this git ref (e.g. the previous main); may be repeated")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. output.store_targets=false")
    args = parser.parse_intermixed_args()
    if args.what == "table":
        print(table(args))
        return
    if args.what == "haplotypes":  # its own panel, not the shared workload
        print(json.dumps(bench_haplotypes(args, None), indent=2))
        return
    data = workload(args)
    result = {"build": bench_build, "dataset": bench_dataset, "report": bench_report,
              "prepare": bench_prepare, "info": bench_info}[args.what](args, data)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
