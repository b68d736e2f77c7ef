"""``python -m genolewm.audit RUN_DIR``: prove a finished build is what its config and inputs say.

The audit does not reuse the builder: it reads the run's Parquet shards,
``config.yaml`` and ``manifest.json`` and the input files (with pysam), and
re-derives every fact it checks from them:

- the inputs are the files the run recorded (size and sha256);
- every window is the reference sequence at its coordinates, with its id,
  flanks and length, and belongs to the split the holdout defines;
- every edit lies inside the edge margins, matches the reference, does not
  overlap the tuple's other edits and is not a held-out variant key;
- every edit from a VCF source is a record of that VCF that passes the
  source's filter (PASS, AF threshold, CLNSIG terms, allele length);
- every stored target equals the reference with the edits applied, cut to
  the window on the side the tuple records;
- every window has exactly the mix's tuples, and the manifest's counts
  match the files.

It exits 1 naming the first offending row, 0 when everything holds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path

import pysam
from omegaconf import OmegaConf

from .contigs import ContigNames, canonical
from .errors import GenolewmError
from .store import file_sha256, iter_rows, read_manifest

VCF_PROVIDER = "genolewm.providers.VariantProvider"
REFERENCE_WINDOWS = "genolewm.windows.ReferenceWindows"


class AuditError(GenolewmError):
    """A finished run contradicts its config, its inputs or its manifest."""


def _expected_target(left: str, seq: str, right: str, edits: list[dict], preserve: bool) -> tuple[str, str | None]:
    """The window with ``edits`` applied, cut back to its length on the side away from them."""
    full = left + seq + right
    off, n = len(left), len(seq)
    for e in sorted(edits, key=lambda e: -e["rel_pos"]):
        p = off + e["rel_pos"]
        full = full[:p] + e["alt"] + full[p + len(e["ref"]):]
    delta = sum(len(e["alt"]) - len(e["ref"]) for e in edits)
    if not preserve or delta == 0:
        return full[off : off + n + delta], None
    first = min(e["rel_pos"] for e in edits)
    last = max(e["rel_pos"] + len(e["ref"]) for e in edits)
    side = "right" if first + last < n else "left"
    lo = off if side == "right" else off + delta
    return "".join(full[i] if 0 <= i < len(full) else "N" for i in range(lo, lo + n)), side


def _edit_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(ref) == 1 and alt.startswith(ref):
        return "INS"
    if len(alt) == 1 and ref.startswith(alt):
        return "DEL"
    return "INDEL"


class _VcfSource:
    """One VCF source of the run, answering "is this allele a record that passes the filter?"."""

    def __init__(self, name: str, settings: dict) -> None:
        self.name = name
        self.settings = settings
        self.vcf = pysam.VariantFile(settings["path"])
        self.contigs = ContigNames(pysam.TabixFile(settings["path"]).contigs)

    def why_not(self, chrom: str, pos0: int, ref: str, alt: str) -> str | None:
        s = self.settings
        file_chrom = self.contigs.find(chrom)
        if file_chrom is None:
            return f"contig {chrom} is not in {s['path']}"
        for rec in self.vcf.fetch(file_chrom, pos0, pos0 + 1):
            alts = [a.upper() for a in (rec.alts or ())]
            if rec.start != pos0 or rec.ref.upper() != ref or alt not in alts:
                continue
            index = alts.index(alt)
            filters = list(rec.filter.keys())
            if s.get("pass_only", True) and filters and filters != ["PASS"]:
                return f"record is FILTER {','.join(filters)}"
            if max(len(ref), len(alt)) > s.get("max_allele_len", 16):
                return "allele longer than max_allele_len"
            if s.get("min_af") is not None:
                af = rec.info.get(s.get("af_field", "AF"))
                af = af if isinstance(af, tuple) else (af,)
                value = af[index] if index < len(af) else None
                if value is None or value < s["min_af"]:
                    return f"{s.get('af_field', 'AF')}={value} is below {s['min_af']}"
            if s.get("clnsig") is not None:
                raw = rec.info.get("CLNSIG")
                terms = {t for v in (raw if isinstance(raw, tuple) else (raw,)) if v for t in str(v).split("|")}
                if not terms & set(s["clnsig"]):
                    return f"CLNSIG {sorted(terms)} has none of {list(s['clnsig'])}"
            return None
        return f"no record {chrom}:{pos0 + 1}:{ref}:{alt} in {s['path']}"


class _Holdout:
    """The run's holdout, read again from its config and files."""

    def __init__(self, spec: dict) -> None:
        self.chroms = {canonical(c) for c in spec.get("chroms") or ()}
        self.records = set(spec.get("record_ids") or ())
        self.intervals: dict[str, list[tuple[int, int]]] = {}
        if spec.get("bed"):
            for line in Path(spec["bed"]).read_text().splitlines():
                cols = line.split()
                if len(cols) >= 3 and not line.startswith(("#", "track", "browser")):
                    self.intervals.setdefault(canonical(cols[0]), []).append((int(cols[1]), int(cols[2])))
        self.keys: set[str] = set()
        if spec.get("keys"):
            for line in Path(spec["keys"]).read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    chrom, rest = line.strip().split(":", 1)
                    self.keys.add(f"{canonical(chrom)}:{rest}")

    def holds_window(self, row: dict) -> bool:
        if row["record_id"] in self.records:
            return True
        if row["chrom"] is None:
            return False
        chrom = canonical(row["chrom"])
        return chrom in self.chroms or any(
            s < row["end_bp"] and row["start_bp"] < e for s, e in self.intervals.get(chrom, ())
        )

    def holds_key(self, chrom: str, pos1: int, ref: str, alt: str) -> bool:
        return f"{canonical(chrom)}:{pos1}:{ref}:{alt}" in self.keys


class _Audit:
    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.manifest = read_manifest(run_dir)
        config_path = Path(run_dir) / "config.yaml"
        if not config_path.is_file():
            raise AuditError(f"{run_dir}: no config.yaml to audit against")
        text = config_path.read_text()
        if hashlib.sha256(text.encode()).hexdigest() != self.manifest["config_sha256"]:
            raise AuditError(f"{config_path}: its sha256 differs from manifest config_sha256")
        self.cfg = OmegaConf.to_container(OmegaConf.create(text), resolve=True)
        cfg = self.cfg
        self.split = self.manifest["split"]
        self.edge_margin = cfg["edge_margin"]
        self.preserve = cfg["target"]["preserve_length"]
        self.pad = cfg["target"]["pad"]
        self.window_bp = cfg["windows"]["window_bp"]
        self.flank_bp = cfg["windows"]["flank_bp"]
        self.mix = {k: v for k, v in cfg["mix"]["counts"].items() if v}
        self.max_edits = max(1, cfg["mix"]["multi_edit"]["max_edits"])
        placed = cfg["windows"]["_target_"] == REFERENCE_WINDOWS
        self.fasta = pysam.FastaFile(cfg["windows"]["fasta"]) if placed else None
        self.holdout = _Holdout(cfg["holdout"])
        self.vcfs = {
            name: _VcfSource(name, spec) for name, spec in cfg["providers"].items()
            if spec.get("_target_") == VCF_PROVIDER
        }

    def fail(self, where: str, message: str) -> None:
        raise AuditError(f"{self.run_dir}: {where}: {message}")

    def check_inputs(self) -> None:
        for item in self.manifest["inputs"]:
            path = item["path"]
            if not os.path.isfile(path):
                self.fail("inputs", f"{path} is gone")
            if os.path.getsize(path) != item["size"]:
                self.fail("inputs", f"{path} changed size since the build")
            if item["sha256"] and file_sha256(path) != item["sha256"]:
                self.fail("inputs", f"{path} changed content since the build")

    def check_window(self, where: str, row: dict) -> None:
        seq = row["sequence"]
        if hashlib.sha256(seq.encode()).hexdigest() != row["window_id"]:
            self.fail(where, "window_id is not the sha256 of the sequence")
        if len(seq) != self.window_bp or row["end_bp"] - row["start_bp"] != self.window_bp:
            self.fail(where, f"window is not {self.window_bp} bp")
        held = self.holdout.holds_window(row)
        if held != (self.split == "val"):
            self.fail(where, f"window {row['chrom'] or row['record_id']}:{row['start_bp']} "
                      f"{'is held out' if held else 'is not held out'} but is in the {self.split} split")
        if self.fasta is not None:
            lo, hi = max(0, row["start_bp"] - self.flank_bp), row["end_bp"] + self.flank_bp
            region = self.fasta.fetch(row["chrom"], lo, hi).upper()
            cut = row["start_bp"] - lo
            if region[cut : cut + self.window_bp] != seq:
                self.fail(where, f"sequence differs from the reference at {row['chrom']}:{row['start_bp']}")
            if region[:cut] != row["left_flank"] or region[cut + self.window_bp:] != row["right_flank"]:
                self.fail(where, "flanks differ from the reference")

    def check_tuple(self, where: str, row: dict, window: dict) -> None:
        seq, n = window["sequence"], self.window_bp
        edits = row["edits"]
        if not 1 <= len(edits) <= self.max_edits:
            self.fail(where, f"{len(edits)} edits; the mix allows 1 to {self.max_edits}")
        end = -1
        for e in edits:
            ref, alt, pos = e["ref"], e["alt"], e["rel_pos"]
            label = f"edit {pos}:{ref}:{alt}"
            if not (ref and alt and set(ref + alt) <= set("ACGT") and max(len(ref), len(alt)) <= 16 and ref != alt):
                self.fail(where, f"{label} is not a valid edit")
            if pos < end:
                self.fail(where, f"{label} overlaps the previous edit or is out of order")
            end = pos + len(ref)
            if pos < self.edge_margin or end > n - self.edge_margin:
                self.fail(where, f"{label} is inside the {self.edge_margin} bp edge margin")
            if seq[pos:end] != ref:
                self.fail(where, f"{label} REF differs from the window ({seq[pos:end]!r})")
            if e["edit_type"] != _edit_type(ref, alt):
                self.fail(where, f"{label} has edit_type {e['edit_type']}, not {_edit_type(ref, alt)}")
            if window["chrom"] is not None:
                pos1 = window["start_bp"] + pos + 1
                if self.split == "train" and self.holdout.holds_key(window["chrom"], pos1, ref, alt):
                    self.fail(where, f"{label} is held-out variant {window['chrom']}:{pos1}:{ref}:{alt}")
            if e["source"] in self.vcfs:
                if window["chrom"] is None:
                    self.fail(where, f"{label} from {e['source']} on an unplaced window")
                why = self.vcfs[e["source"]].why_not(window["chrom"], window["start_bp"] + pos, ref, alt)
                if why:
                    self.fail(where, f"{label} from {e['source']}: {why}")
        if row["edit_source"] != "+".join(sorted({e["source"] for e in edits})):
            self.fail(where, f"edit_source {row['edit_source']!r} does not name the edits' sources")
        left, right = window["left_flank"], window["right_flank"]
        if self.pad == "N":
            left = right = ""
        expected, side = _expected_target(left, seq, right, edits, self.preserve)
        if row["adjusted_side"] != side:
            self.fail(where, f"adjusted_side {row['adjusted_side']!r}, expected {side!r}")
        if "target_window" in row and row["target_window"] != expected:
            self.fail(where, "target_window is not the window with its edits applied")

    def run(self) -> dict:
        self.check_inputs()
        windows = iter_rows(self.run_dir, "windows")
        by_edit, by_requested, fallbacks = Counter(), Counter(), Counter()
        n_windows = n_tuples = 0
        window = None
        last_index = -1
        slots: Counter = Counter()

        def close_window() -> None:
            if window is not None and dict(slots) != self.mix:
                self.fail(f"window {window['window_index']}", f"tuples per source {dict(slots)}, mix says {self.mix}")

        for where, number, row in iter_rows(self.run_dir, "tuples"):
            where = f"{where} row {number}"
            while window is None or window["window_index"] < row["window_index"]:
                close_window()
                step = next(windows, None)
                if step is None:
                    self.fail(where, f"window {row['window_index']} has no window row")
                wwhere, wnumber, window = step
                if window["window_index"] <= last_index:
                    self.fail(f"{wwhere} row {wnumber}", "window_index is not increasing")
                last_index = window["window_index"]
                self.check_window(f"{wwhere} row {wnumber}", window)
                n_windows += 1
                slots = Counter()
                expected_index = 0
            if window["window_index"] != row["window_index"] or row["window_id"] != window["window_id"]:
                self.fail(where, f"window {row['window_index']} has no window row")
            if row["tuple_index"] != expected_index:
                self.fail(where, f"tuple_index {row['tuple_index']}, expected {expected_index}")
            expected_index += 1
            self.check_tuple(where, row, window)
            slots[row["requested_source"]] += 1
            by_edit[row["edit_source"]] += 1
            by_requested[row["requested_source"]] += 1
            for e in row["edits"]:
                if e["source"] != row["requested_source"]:
                    fallbacks[f"{row['requested_source']}->{e['source']}"] += 1
            n_tuples += 1
        close_window()
        for wwhere, wnumber, extra in windows:
            self.fail(f"{wwhere} row {wnumber}", f"window {extra['window_index']} has no tuples")
        m = self.manifest
        checks = {
            "windows.kept": (m["windows"]["kept"], n_windows),
            "tuples.total": (m["tuples"]["total"], n_tuples),
            "tuples.by_edit_source": (m["tuples"]["by_edit_source"], dict(by_edit)),
            "tuples.by_requested_source": (m["tuples"]["by_requested_source"], dict(by_requested)),
            "fallbacks": (m["fallbacks"], dict(fallbacks)),
            "shards": (m["shards"], len(list((Path(self.run_dir) / "tuples").glob("part-*.parquet")))),
            "windows.seen": (
                m["windows"]["seen"],
                m["windows"]["kept"] + m["windows"]["excluded_by_holdout"] + m["windows"]["skipped_n"],
            ),
        }
        for key, (recorded, found) in checks.items():
            if recorded != found:
                self.fail("manifest.json", f"{key} is {recorded}, the files give {found}")
        return {"windows": n_windows, "tuples": n_tuples}


def audit_run(run_dir: str | os.PathLike) -> dict:
    """Check a finished run; raise :class:`AuditError` at the first violation, else return what was checked."""
    return _Audit(str(run_dir)).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genolewm.audit", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        checked = audit_run(args.run_dir)
    except GenolewmError as exc:
        print(f"genolewm.audit: FAIL: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"genolewm.audit: ok: {checked['windows']} windows and {checked['tuples']} tuples in {args.run_dir}")


if __name__ == "__main__":
    main()
