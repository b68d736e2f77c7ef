"""``genolewm-report RUN_DIR|SWEEP_DIR``: what a build holds, as ``report.html`` with PNG figures beside it.

For a run: tuples by requested and serving source and the fallback rate per
source; edit types; indel lengths per source; edit positions in the window;
windows and tuples per chromosome (kept, held out, mostly N); the AF
spectrum of AF-selected edits; VCF edits by CLNSIG term; skipped variants
by reason; for haplotype slots, the edits per haplotype tuple and how
often each sample was drawn. For a sweep dir: the same figures per job side by side, and one
table of every job's counts. Every number comes from the shard files
(streamed a batch at a time, without targets) and the manifest; the page
carries them as JSON (``<script id="report-data">``) as well as in tables.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import logging
import os
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import GenolewmError, InputError
from .logs import command_logging, progress
from .runs import RunSet
from .store import read_manifest
from .store.manifest import inside

log = logging.getLogger(__name__)

POSITION_BINS = 48
AF_EDGES = [float(x) for x in np.logspace(-4, 0, 17)]  # 1e-4 .. 1, four bins a decade


@dataclass
class RunStats:
    """The numbers of one run's report."""

    run_dir: str
    window_bp: int
    edge_margin: int
    served: dict = field(default_factory=dict)          # "requested -> serving": edits
    edit_types: dict = field(default_factory=dict)      # type: edits
    indel_lengths: dict = field(default_factory=dict)   # source: {length: edits}
    positions: list = field(default_factory=list)       # edits per bin of POSITION_BINS over the window
    tuples_by_chrom: dict = field(default_factory=dict)
    windows_by_chrom: dict = field(default_factory=dict)
    af: dict = field(default_factory=dict)              # source: edits per AF bin (AF_EDGES)
    clnsig: dict = field(default_factory=dict)          # term: edits
    skipped: dict = field(default_factory=dict)         # "source:reason": alleles
    counts: dict = field(default_factory=dict)          # the manifest's windows and tuples
    masked_bases: dict = field(default_factory=dict)    # IUPAC code: reference bases read as N
    sequences: dict = field(default_factory=dict)       # the manifest's sequences: tiled, left out, not in reference
    classified: dict = field(default_factory=dict)      # source: {CLNSIG value: {"selected": n, "rejected": n}}
    haplotype_edits: dict = field(default_factory=dict)  # edits per tuple a haplotype served: tuples
    samples_drawn: dict = field(default_factory=dict)   # sample: tuples of haplotype slots that drew it

    @property
    def draws_per_sample(self) -> dict:
        """How often the samples were drawn: how many were, and the least, median and most draws of one."""
        if not self.samples_drawn:
            return {}
        draws = np.array(list(self.samples_drawn.values()))
        return {"samples drawn": len(draws), "least": int(draws.min()), "median": float(np.median(draws)),
                "most": int(draws.max())}

    @property
    def fallback_rate(self) -> dict:
        """Per requested source, the share of its edits another source served."""
        asked: Counter = Counter()
        other: Counter = Counter()
        for key, n in self.served.items():
            requested, serving = key.split(" -> ")
            asked[requested] += n
            if serving != requested:
                other[requested] += n
        return {source: round(other[source] / asked[source], 4) for source in sorted(asked)}


def _settings(run_dir: Path) -> tuple[int, int]:
    from omegaconf.errors import OmegaConfBaseException

    from .config import load_run_config  # the run's config read as data: nothing resolved or imported

    _, config = load_run_config(run_dir)
    try:
        window_bp, margin = config.windows.window_bp, config.edge_margin
    except OmegaConfBaseException as exc:  # a missing or mistyped key
        raise InputError(f"{run_dir / 'config.yaml'}: no windows.window_bp or edge_margin ({exc})") from exc
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (window_bp, margin)) \
            or window_bp < 1:
        raise InputError(f"{run_dir / 'config.yaml'}: windows.window_bp={window_bp!r} or edge_margin={margin!r} "
                         "is not a count")
    return window_bp, margin


def run_stats(run_dir: str | Path, show_progress: bool = False) -> RunStats:
    """Count one finished run, shard by shard, a batch of rows at a time (``show_progress``: a bar over its
    tuples on a terminal, a log line every few seconds otherwise)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    runs = RunSet(run_dir, complete=False)
    window_bp, edge_margin = _settings(run_dir)
    served, types, chroms, clnsig = Counter(), Counter(), Counter(), Counter()
    haplotype_edits, samples = Counter(), Counter()
    indels: dict[str, Counter] = {}
    af: dict[str, np.ndarray] = {}
    positions = np.zeros(POSITION_BINS, np.int64)
    with progress(log, show_progress, f"report: {run_dir.name}", sum(manifest["shard_tuples"].values()),
                  "tuple") as update:
        for shard in runs.shards:
            for row in runs.reader.tuple_rows(shard, with_targets=False):
                chroms[row["edits"][0]["chrom"] or "unplaced"] += 1
                if row["sample"] is not None:
                    samples[row["sample"]] += 1
                    if row["edit_source"] == row["requested_source"]:
                        haplotype_edits[len(row["edits"])] += 1
                for e in row["edits"]:
                    served[f"{row['requested_source']} -> {e['source']}"] += 1
                    types[e["edit_type"]] += 1
                    positions[min(POSITION_BINS - 1, e["rel_pos"] * POSITION_BINS // window_bp)] += 1
                    if e["edit_type"] in ("INS", "DEL"):
                        indels.setdefault(e["source"], Counter())[abs(len(e["alt"]) - len(e["ref"]))] += 1
                    if e["af"] is not None:
                        bins = af.setdefault(e["source"], np.zeros(len(AF_EDGES) - 1, np.int64))
                        bins[min(len(bins) - 1, max(0, int(np.searchsorted(AF_EDGES, e["af"], "right")) - 1))] += 1
                    for term in e["clnsig"] or ():
                        clnsig[term] += 1
                update(1)
    return RunStats(
        run_dir=str(run_dir), window_bp=window_bp, edge_margin=edge_margin, served=dict(sorted(served.items())),
        edit_types=dict(sorted(types.items())),
        indel_lengths={s: {str(k): n for k, n in sorted(c.items())} for s, c in sorted(indels.items())},
        positions=positions.tolist(), tuples_by_chrom=dict(sorted(chroms.items())),
        windows_by_chrom=manifest["windows_by_chrom"], af={s: b.tolist() for s, b in sorted(af.items())},
        clnsig=dict(sorted(clnsig.items())), skipped=manifest["variants_skipped"],
        counts={"windows": manifest["windows"], "tuples": manifest["tuples"]},
        # Runs built before these counts existed have none to show.
        masked_bases=manifest.get("masked_bases", {}), classified=manifest.get("clnsig", {}),
        haplotype_edits={str(k): n for k, n in sorted(haplotype_edits.items())},
        samples_drawn=dict(sorted(samples.items())),
        sequences=manifest.get("sequences", {"windows": {"tiled": "not counted", "left_out": {}},
                                             "not_in_reference": {}}),
    )


def _sources(plt, stats: RunStats):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    keys = list(stats.served)
    left.barh(keys, [stats.served[k] for k in keys])
    left.set_xlabel("edits")
    rates = stats.fallback_rate
    right.bar(list(rates), list(rates.values()))
    right.set_ylabel("share served by a fallback")
    right.tick_params(axis="x", labelrotation=30)
    return fig, "sources", "Edits by requested -> serving source; fallback rate per source"


def _edits(plt, stats: RunStats):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.bar(list(stats.edit_types), list(stats.edit_types.values()))
    left.set_ylabel("edits")
    for source, lengths in stats.indel_lengths.items():
        right.plot([int(k) for k in lengths], list(lengths.values()), marker="o", label=source)
    right.set_xlabel("indel length (bp)")
    right.set_ylabel("edits")
    if stats.indel_lengths:
        right.legend(fontsize=7)
    return fig, "edits", "Edit types; indel length per source"


def _positions(plt, stats: RunStats):
    fig, axis = plt.subplots(figsize=(10, 3))
    width = stats.window_bp / POSITION_BINS
    axis.bar([i * width for i in range(POSITION_BINS)], stats.positions, width=width, align="edge")
    for x in (stats.edge_margin, stats.window_bp - stats.edge_margin):
        axis.axvline(x, color="red", linewidth=1)
    axis.set_xlabel("rel_pos (red: the edge margins; between them it should be flat)")
    axis.set_ylabel("edits")
    return fig, "positions", "Edit position within the window"


def _chromosomes(plt, stats: RunStats):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    names = list(stats.windows_by_chrom)
    bottom = np.zeros(len(names))
    for outcome in ("kept", "excluded_by_holdout", "skipped_n"):
        values = np.array([stats.windows_by_chrom[c][outcome] for c in names])
        left.bar(names, values, bottom=bottom, label=outcome)
        bottom += values
    left.legend(fontsize=7)
    left.set_ylabel("windows")
    right.bar(list(stats.tuples_by_chrom), list(stats.tuples_by_chrom.values()))
    right.set_ylabel("tuples")
    return fig, "chromosomes", "Windows (kept / held out / mostly N) and tuples per chromosome"


def _variants(plt, stats: RunStats):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    centres = [float(np.sqrt(a * b)) for a, b in zip(AF_EDGES, AF_EDGES[1:])]
    for source, bins in stats.af.items():
        left.plot(centres, bins, marker="o", label=source)
    left.set_xscale("log")
    left.set_xlabel("AF")
    left.set_ylabel("edits")
    if stats.af:
        left.legend(fontsize=7)
    right.barh(list(stats.clnsig), list(stats.clnsig.values()))
    right.set_xlabel("edits")
    return fig, "variants", "AF spectrum of AF-selected edits; VCF edits by CLNSIG term"


def _skipped(plt, stats: RunStats):
    fig, axis = plt.subplots(figsize=(10, max(2.5, 0.25 * len(stats.skipped))))
    axis.barh(list(stats.skipped), list(stats.skipped.values()))
    axis.set_xlabel("alleles")
    return fig, "skipped", "Skipped variants by source and reason"


def _haplotypes(plt, stats: RunStats):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.bar([int(k) for k in stats.haplotype_edits], list(stats.haplotype_edits.values()))
    left.set_xlabel("edits in a haplotype tuple")
    left.set_ylabel("tuples")
    draws = Counter(stats.samples_drawn.values())
    right.bar(list(draws), list(draws.values()))
    right.set_xlabel("haplotype tuples drawn from one sample")
    right.set_ylabel("samples")
    return fig, "haplotypes", "Edits per haplotype tuple; how often each sample was drawn"


FIGURES = (_sources, _edits, _positions, _chromosomes, _variants, _skipped, _haplotypes)


def _figures(stats: RunStats, out_dir: Path, prefix: str) -> list[tuple[str, str]]:
    """Draw the run's figures as PNGs in ``out_dir``; return ``(title, path relative to the page)`` pairs."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display
    import matplotlib.pyplot as plt

    drawn = []
    for draw in FIGURES:
        if draw is _haplotypes and not stats.samples_drawn:
            continue  # a run without haplotype slots
        fig, name, title = draw(plt, stats)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        image = io.BytesIO()
        fig.savefig(image, format="png", dpi=80)
        _replace(out_dir / f"{prefix}{name}.png", image.getvalue())
        plt.close(fig)
        drawn.append((title, f"{out_dir.name}/{prefix}{name}.png"))
    return drawn


def _table(rows: dict, headers: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table><tr><th>{headers[0]}</th><th>{headers[1]}</th></tr>{body}</table>"


def _run_section(stats: RunStats, figures: list[tuple[str, str]]) -> str:
    windows = stats.sequences["windows"]
    tables = [
        ("Windows", _table(stats.counts["windows"], ("windows", "count"))),
        ("Tuples by requested source", _table(stats.counts["tuples"]["by_requested_source"], ("source", "tuples"))),
        ("Edits by requested -> serving source", _table(stats.served, ("sources", "edits"))),
        ("Fallback rate", _table(stats.fallback_rate, ("source", "share"))),
        ("Edit types", _table(stats.edit_types, ("type", "edits"))),
        ("Windows by chromosome", _table({c: ", ".join(f"{k} {v}" for k, v in o.items())
                                          for c, o in stats.windows_by_chrom.items()}, ("chromosome", "windows"))),
        ("Tuples by chromosome", _table(stats.tuples_by_chrom, ("chromosome", "tuples"))),
        ("CLNSIG terms", _table(stats.clnsig, ("term", "edits"))),
        ("Skipped variants", _table(stats.skipped, ("source:reason", "alleles or calls"))),
        *((("Edits per haplotype tuple", _table(stats.haplotype_edits, ("edits", "tuples"))),
           ("Samples drawn by haplotype slots", _table(stats.draws_per_sample, ("statistic", "value"))))
          if stats.samples_drawn else ()),
        ("Reference bases read as N (IUPAC codes)", _table(stats.masked_bases, ("code", "bases"))),
        ("Reference sequences", _table({"tiled": windows["tiled"],
                                         **{f"left out: {k}": n for k, n in windows["left_out"].items()}},
                                        ("sequences", "count"))),
        *((title, _table({f"{source}: {contig}": n for source, contigs in stats.sequences.get(key, {}).items()
                          for contig, n in contigs.items()}, ("source: contig", "records")))
          for key, title in (("not_in_reference", "VCF contigs not in the reference"),
                             ("not_tiled", "VCF contigs the windows do not tile"))),
        *((f"CLNSIG classifications of {source}", _table(
            {value: f"selected {c['selected']}, rejected {c['rejected']}" for value, c in values.items()},
            ("CLNSIG", "alleles"))) for source, values in stats.classified.items()),
    ]
    images = "".join(f"<figure><img src='{html.escape(name)}' alt='{html.escape(title)}'>"
                     f"<figcaption>{html.escape(title)}</figcaption></figure>" for title, name in figures)
    return images + "".join(f"<h3>{title}</h3>{table}" for title, table in tables)


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:0.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} img{{max-width:100%}}
.jobs{{display:flex;gap:2em;overflow-x:auto}} .jobs>div{{min-width:40em}}</style></head>
<body><h1>{title}</h1>{body}<script type="application/json" id="report-data">{data}</script></body></html>"""


def _jobs(sweep_dir: Path) -> list[Path]:
    """The finished job dirs of a sweep dir, in job order; one that leads outside it is refused."""
    jobs = [inside(sweep_dir, d) for d in sweep_dir.iterdir() if (d / "manifest.json").is_file()]
    return sorted(jobs, key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))


def _replace(target: Path, data: bytes) -> None:
    """Write ``target`` whole under a new temporary name beside it, then rename it into place: a link
    already at either name is replaced, never followed."""
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_report(path: str | Path, show_progress: bool = False) -> Path:
    """Write ``report.html`` (and its PNGs in ``report/``) for a run dir or a sweep dir; return its path.
    ``show_progress``: see `run_stats`."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such run or sweep directory")
    # A run dir may come from anywhere: what the report writes stays inside it, whatever links it holds.
    out_dir = inside(path, path / "report")
    out_dir.mkdir(exist_ok=True)
    if (path / "manifest.json").is_file():
        stats = run_stats(path, show_progress)
        body, data = _run_section(stats, _figures(stats, out_dir, "")), asdict(stats)
        title = f"genolewm run {path.name}"
    else:
        jobs = _jobs(path)
        if not jobs:
            raise InputError(f"{path}: neither a finished run (no manifest.json) nor a sweep with finished jobs")
        stats_by_job = {job.name: run_stats(job, show_progress) for job in jobs}
        columns = "".join(
            f"<div><h2>job {html.escape(name)}</h2>{_run_section(stats, _figures(stats, out_dir, f'job-{name}-'))}</div>"
            for name, stats in stats_by_job.items())
        summary = _table({name: f"windows kept {s.counts['windows']['kept']}, tuples {s.counts['tuples']['total']}, "
                                + ", ".join(f"{k} {v}" for k, v in s.counts["tuples"]["by_edit_source"].items())
                          for name, s in stats_by_job.items()}, ("job", "counts"))
        body = f"<h2>Every job</h2>{summary}<div class='jobs'>{columns}</div>"
        data = {name: asdict(stats) for name, stats in stats_by_job.items()}
        title = f"genolewm sweep {path.name}"
    target = path / "report.html"
    _replace(target, PAGE.format(title=html.escape(title), body=body,
                                 data=json.dumps(data).replace("</", "<\\/")).encode())
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genolewm-report", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, metavar="RUN_OR_SWEEP_DIR")
    args = parser.parse_args(argv)
    command_logging()
    try:
        target = write_report(args.path, show_progress=True)
    except GenolewmError as exc:
        print(f"genolewm.report: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"genolewm.report: {target}")


if __name__ == "__main__":
    main()
