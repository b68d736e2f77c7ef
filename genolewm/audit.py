"""``python -m genolewm.audit RUN_DIR``: prove a finished build is what its config and inputs say.

The audit does not reuse the builder's logic: it builds the run's components
from its ``config.yaml`` only to ask each how to check it (``audit_spec()``:
a kind the audit knows, or the audit fails), reads the shards through the
format's reader, and re-derives every fact it checks from the input files
(with pysam):

- the inputs are the files the run recorded (size and sha256);
- every window is the reference sequence at its coordinates, with its id,
  flanks and length, and belongs to the split the holdout defines;
- every edit lies inside the edge margins, matches the reference, does not
  overlap the tuple's other edits and is not a held-out variant key;
- every edit from a VCF source is a record of that VCF that passes each of
  the source's filter predicates (PASS, AF threshold, CLNSIG terms, edit
  types, allele length); every synthetic edit has its source's shape;
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
from typing import Iterator

import pysam
from omegaconf import OmegaConf

from .config import make_builder
from .contigs import ContigNames, canonical
from .errors import GenolewmError
from .store import file_sha256, read_manifest, reader_of
from .types import ShardRef


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


def _why_not_predicate(spec: dict, rec, index: int, ref: str, alt: str) -> str | None:
    """Why one filter predicate rejects an allele (None: it passes); an unknown kind fails the audit."""
    kind = spec["kind"]
    if kind == "pass_only":
        filters = list(rec.filter.keys())
        return f"record is FILTER {','.join(filters)}" if filters and filters != ["PASS"] else None
    if kind == "min_af":
        af = rec.info.get(spec["field"])
        af = af if isinstance(af, tuple) else (af,)
        value = af[index] if index < len(af) else None
        return f"{spec['field']}={value} is below {spec['min']}" if value is None or value < spec["min"] else None
    if kind == "clnsig":
        raw = rec.info.get("CLNSIG")
        terms = {t for v in (raw if isinstance(raw, tuple) else (raw,)) if v for t in str(v).split("|")}
        return None if terms & set(spec["terms"]) else f"CLNSIG {sorted(terms)} has none of {spec['terms']}"
    if kind == "edit_types":
        found = _edit_type(ref, alt)
        return None if found in spec["types"] else f"edit type {found} is not one of {spec['types']}"
    raise AuditError(f"filter predicate kind {kind!r}: the audit cannot check it; add a check to genolewm.audit")


class _VcfSource:
    """One VCF source of the run, answering "is this allele a record that passes the filter?"."""

    def __init__(self, name: str, spec: dict) -> None:
        self.name = name
        self.path = spec["path"]
        self.filter = spec["filter"]
        self.vcf = pysam.VariantFile(self.path)
        self.contigs = ContigNames(pysam.TabixFile(self.path).contigs)

    def why_not(self, chrom: str, pos0: int, ref: str, alt: str) -> str | None:
        file_chrom = self.contigs.find(chrom)
        if file_chrom is None:
            return f"contig {chrom} is not in {self.path}"
        for rec in self.vcf.fetch(file_chrom, pos0, pos0 + 1):
            alts = [a.upper() for a in (rec.alts or ())]
            if rec.start != pos0 or rec.ref.upper() != ref or alt not in alts:
                continue
            if max(len(ref), len(alt)) > self.filter["max_allele_len"]:
                return "allele longer than max_allele_len"
            for predicate in self.filter["predicates"]:
                why = _why_not_predicate(predicate, rec, alts.index(alt), ref, alt)
                if why:
                    return why
            return None
        return f"no record {chrom}:{pos0 + 1}:{ref}:{alt} in {self.path}"


def _why_not_synthetic(spec: dict, ref: str, alt: str) -> str | None:
    """Whether an edit has the shape its synthetic source draws; an unknown kind fails the audit."""
    kind, found = spec["kind"], _edit_type(ref, alt)
    if kind == "synthetic_snv":
        return None if found == "SNV" else f"a {found}, not an SNV"
    if kind == "synthetic_indel":
        event = abs(len(alt) - len(ref))
        if found not in ("INS", "DEL"):
            return f"a {found}, not an anchored insertion or deletion"
        return None if 1 <= event <= spec["max_event_bp"] else f"event of {event} bp, over {spec['max_event_bp']}"
    raise AuditError(f"provider kind {kind!r}: the audit cannot check it; add a check to genolewm.audit")


class _Holdout:
    """The run's holdout, read again from its config and files."""

    def __init__(self, spec: dict) -> None:
        if spec.get("kind") != "policy":
            raise AuditError(f"holdout kind {spec.get('kind')!r}: the audit cannot check it; "
                             "add a check to genolewm.audit")
        self.chroms = {canonical(c) for c in spec.get("chroms") or ()}
        self.records = set(spec.get("record_ids") or ())
        self.intervals = _read_intervals(spec["bed"]) if spec.get("bed") else {}
        self.keys: set[str] = set()
        if spec.get("keys"):
            for line in Path(spec["keys"]).read_text().splitlines():
                if line.strip() and not line.strip().startswith("#"):
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


def _read_intervals(path: str) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for line in Path(path).read_text().splitlines():
        cols = line.split()
        if len(cols) >= 3 and not line.lstrip().startswith(("#", "track", "browser")):
            out.setdefault(canonical(cols[0]), []).append((int(cols[1]), int(cols[2])))
    return out


class _Sequences:
    """Where windows come from, per the window source's spec: a reference FASTA (optionally only inside
    BED regions) or a corpus; an unknown kind fails the audit."""

    def __init__(self, spec: dict) -> None:
        self.kind = spec["kind"]
        if self.kind not in ("reference", "corpus"):
            raise AuditError(f"windows kind {self.kind!r}: the audit cannot check it; add a check to genolewm.audit")
        self.mask = spec.get("non_acgtn") == "mask"
        self.fasta = pysam.FastaFile(spec["fasta"]) if self.kind == "reference" else None
        self.regions = _read_intervals(spec["regions"]) if spec.get("regions") else None
        self.corpus = pysam.FastxFile(spec["path"]) if self.kind == "corpus" else None
        self._record = None

    def _canonical(self, bases: str) -> str:
        bases = bases.upper()
        return "".join(b if b in "ACGTN" else "N" for b in bases) if self.mask else bases

    def region(self, row: dict, lo: int, hi: int) -> str | None:
        """The source bases ``[lo, hi)`` of the window's sequence (corpus records are read in order)."""
        if self.fasta is not None:
            return self._canonical(self.fasta.fetch(row["chrom"], lo, hi))
        while self._record is None or self._record.name != row["record_id"]:
            self._record = next(self.corpus, None)
            if self._record is None:
                return None
        return self._canonical(self._record.sequence[lo:hi])

    def outside_regions(self, row: dict) -> bool:
        if self.regions is None:
            return False
        spans = self.regions.get(canonical(row["chrom"]), ())
        merged_hit = [(s, e) for s, e in spans if s < row["end_bp"] and row["start_bp"] < e]
        if not merged_hit:
            return True
        lo, hi = min(s for s, _ in merged_hit), max(e for _, e in merged_hit)
        return not (lo <= row["start_bp"] and row["end_bp"] <= hi)


PREDICATE_KINDS = ("pass_only", "min_af", "clnsig", "edit_types")
SYNTHETIC_KINDS = ("synthetic_snv", "synthetic_indel")


def _edit_checker(name: str, spec: dict):
    """``why_not(window row, rel_pos, ref, alt)`` for the edits of one provider, from its spec."""
    kind = spec.get("kind")
    if kind == "vcf":
        for predicate in spec["filter"]["predicates"]:
            if predicate["kind"] not in PREDICATE_KINDS:
                raise AuditError(f"providers.{name}: filter predicate kind {predicate['kind']!r}: the audit cannot "
                                 "check it; add a check to genolewm.audit")
        source = _VcfSource(name, spec)

        def why_not(window: dict, pos: int, ref: str, alt: str) -> str | None:
            if window["chrom"] is None:
                return "a VCF edit on an unplaced window"
            return source.why_not(window["chrom"], window["start_bp"] + pos, ref, alt)

        return why_not
    if kind in SYNTHETIC_KINDS:
        return lambda window, pos, ref, alt: _why_not_synthetic(spec, ref, alt)
    raise AuditError(f"providers.{name}: provider kind {kind!r}: the audit cannot check it; "
                     "add a check to genolewm.audit")


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
        self.check_inputs()
        cfg = OmegaConf.create(text)
        plain = OmegaConf.to_container(cfg, resolve=True)
        self.split = self.manifest["split"]
        self.edge_margin = plain["edge_margin"]
        self.preserve = plain["target"]["preserve_length"]
        self.pad = plain["target"]["pad"]
        self.window_bp = plain["windows"]["window_bp"]
        self.flank_bp = plain["windows"]["flank_bp"]
        self.mix = {k: v for k, v in plain["mix"]["counts"].items() if v}
        self.max_edits = max(1, plain["mix"]["multi_edit"]["max_edits"])
        # The components say how to check them; the checks below are the audit's own.
        builder, _ = make_builder(cfg)
        self.sequences = _Sequences(builder.windows.audit_spec())
        self.holdout = _Holdout(builder.holdouts.audit_spec())
        self.checks = {name: _edit_checker(name, p.audit_spec()) for name, p in builder.providers.items()}
        self.reader = reader_of(self.manifest, run_dir)

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
        lo, hi = max(0, row["start_bp"] - self.flank_bp), row["end_bp"] + self.flank_bp
        region = self.sequences.region(row, lo, hi)
        name = row["chrom"] or row["record_id"]
        if region is None:
            self.fail(where, f"record {row['record_id']} is not in the corpus (or out of order)")
        cut = row["start_bp"] - lo
        if region[cut : cut + self.window_bp] != seq:
            self.fail(where, f"sequence differs from the {self.sequences.kind} at {name}:{row['start_bp']}")
        if region[:cut] != row["left_flank"] or region[cut + self.window_bp:] != row["right_flank"]:
            self.fail(where, f"flanks differ from the {self.sequences.kind}")
        if self.sequences.outside_regions(row):
            self.fail(where, f"window {name}:{row['start_bp']}-{row['end_bp']} is not inside one of the regions")

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
            if e["source"] not in self.checks:
                self.fail(where, f"{label} from {e['source']!r}, which is not a provider of the run")
            why = self.checks[e["source"]](window, pos, ref, alt)
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

    def rows(self, table: str) -> Iterator[tuple[str, dict]]:
        """``(where, row)`` for every row of ``windows`` or ``tuples``, in plan order, via the format's reader."""
        for block in self.reader.blocks(Path(self.run_dir)):
            shard = ShardRef(Path(self.run_dir), block)
            label = self.reader.label(shard, table)
            rows = self.reader.window_rows(shard) if table == "windows" else self.reader.tuple_rows(shard)
            for number, row in enumerate(rows):
                yield f"{label} row {number}", row

    def run(self) -> dict:
        windows = self.rows("windows")
        totals = {"by_edit": Counter(), "by_requested": Counter(), "fallbacks": Counter(), "windows": 0, "tuples": 0}
        window, last_index, slots, expected_index = None, -1, Counter(), 0
        for where, row in self.rows("tuples"):
            while window is None or window["window_index"] < row["window_index"]:
                self.close_window(window, slots)
                wwhere, window = next(windows, (None, None))
                if window is None:
                    self.fail(where, f"window {row['window_index']} has no window row")
                if window["window_index"] <= last_index:
                    self.fail(wwhere, "window_index is not increasing")
                last_index = window["window_index"]
                self.check_window(wwhere, window)
                totals["windows"] += 1
                slots, expected_index = Counter(), 0
            if window["window_index"] != row["window_index"] or row["window_id"] != window["window_id"]:
                self.fail(where, f"window {row['window_index']} has no window row")
            if row["tuple_index"] != expected_index:
                self.fail(where, f"tuple_index {row['tuple_index']}, expected {expected_index}")
            expected_index += 1
            self.check_tuple(where, row, window)
            slots[row["requested_source"]] += 1
            totals["by_edit"][row["edit_source"]] += 1
            totals["by_requested"][row["requested_source"]] += 1
            for e in row["edits"]:
                if e["source"] != row["requested_source"]:
                    totals["fallbacks"][f"{row['requested_source']}->{e['source']}"] += 1
            totals["tuples"] += 1
        self.close_window(window, slots)
        for wwhere, extra in windows:
            self.fail(wwhere, f"window {extra['window_index']} has no tuples")
        self.check_manifest(totals)
        return {"windows": totals["windows"], "tuples": totals["tuples"]}

    def close_window(self, window: dict | None, slots: Counter) -> None:
        if window is not None and dict(slots) != self.mix:
            self.fail(f"window {window['window_index']}", f"tuples per source {dict(slots)}, mix says {self.mix}")

    def check_manifest(self, totals: dict) -> None:
        m = self.manifest
        checks = {
            "windows.kept": (m["windows"]["kept"], totals["windows"]),
            "tuples.total": (m["tuples"]["total"], totals["tuples"]),
            "tuples.by_edit_source": (m["tuples"]["by_edit_source"], dict(totals["by_edit"])),
            "tuples.by_requested_source": (m["tuples"]["by_requested_source"], dict(totals["by_requested"])),
            "fallbacks": (m["fallbacks"], dict(totals["fallbacks"])),
            "shards": (m["shards"], len(self.reader.blocks(Path(self.run_dir)))),
            "windows.seen": (
                m["windows"]["seen"],
                m["windows"]["kept"] + m["windows"]["excluded_by_holdout"] + m["windows"]["skipped_n"],
            ),
        }
        for key, (recorded, found) in checks.items():
            if recorded != found:
                self.fail("manifest.json", f"{key} is {recorded}, the files give {found}")


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
