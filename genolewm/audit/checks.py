"""The audit's own checks, written apart from the builder's on purpose (a bug in one cannot hide in the
other; ``tests/test_conformance.py`` runs both on the same cases): targets, edit types, VCF records and
their filter predicates, synthetic shapes, holdouts and window sequences. A kind it does not know is an
`AuditError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysam

from ..contigs import ContigNames, canonical
from ..errors import AuditError
from ..remote import local_index


def expected_target(left: str, seq: str, right: str, edits: list[dict], preserve: bool) -> tuple[str, str | None]:
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


def edit_type_of(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(ref) == 1 and alt.startswith(ref):
        return "INS"
    if len(alt) == 1 and ref.startswith(alt):
        return "DEL"
    return "INDEL"


def classifications(rec, key: str) -> set[str]:
    """ClinVar classifications of INFO ``key``: pysam splits the value on every comma, but one before
    ``_`` belongs to the term (``Pathogenic,_low_penetrance``); ``|`` separates secondary ones."""
    raw = rec.info.get(key) if key in rec.header.info else None
    items: list[str] = []
    for value in raw if isinstance(raw, tuple) else (raw,):
        if value is None or value == ".":
            continue
        if value.startswith("_") and items:
            items[-1] += "," + value
        else:
            items.append(value)
    return {term for item in items for term in item.split("|") if term}


def why_not_predicate(spec: dict, rec, index: int, ref: str, alt: str) -> tuple[str, str] | None:
    """``(skip reason, detail)`` when one filter predicate rejects an allele, None when it passes.

    The reasons are the ones the manifest's ``variants_skipped`` counts; an
    unknown predicate kind fails the audit.
    """
    kind = spec["kind"]
    if kind == "pass_only":
        filters = list(rec.filter.keys())
        return ("not_pass", f"record is FILTER {','.join(filters)}") if filters and filters != ["PASS"] else None
    if kind == "min_af":
        af = rec.info.get(spec["field"])
        af = af if isinstance(af, tuple) else (af,)
        value = af[index] if index < len(af) else None
        if value is None:
            return "af_missing", f"{spec['field']} is missing"
        return ("af_below_min", f"{spec['field']}={value} is below {spec['min']}") if value < spec["min"] else None
    if kind == "clnsig":
        terms, onc = classifications(rec, "CLNSIG"), classifications(rec, "ONC") if spec.get("onc") else set()
        if terms & set(spec["terms"]) or onc & set(spec.get("onc", ())):
            return None
        if not terms and not onc:
            return "clnsig_missing", "record has no CLNSIG" + (" nor ONC" if spec.get("onc") else "")
        return "clnsig_not_selected", f"CLNSIG {sorted(terms)} ONC {sorted(onc)} has none of {spec['terms']} " \
                                      f"{spec.get('onc', [])}"
    if kind == "edit_types":
        found = edit_type_of(ref, alt)
        return None if found in spec["types"] else ("edit_type_not_selected", f"edit type {found} is not one of "
                                                                                f"{spec['types']}")
    raise AuditError(f"filter predicate kind {kind!r}: the audit cannot check it; add a check to genolewm.audit")


class VcfSource:
    """One VCF source of the run, answering "is this allele a record that passes the filter?"."""

    def __init__(self, name: str, spec: dict) -> None:
        self.name = name
        self.path = spec["path"]
        self.filter = spec["filter"]
        self.vcf = pysam.VariantFile(self.path, index_filename=local_index(self.path))
        self.contigs = ContigNames(pysam.TabixFile(self.path, index=local_index(self.path)).contigs)

    def why_not(self, chrom: str, pos0: int, ref: str, alt: str, note: dict | None = None) -> str | None:
        """Why the allele is not a usable record of this source (None: it is); with ``note`` (the edit's
        ``id``, ``af``, ``clnsig``), also whether the note is that record's."""
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
                why = why_not_predicate(predicate, rec, alts.index(alt), ref, alt)
                if why:
                    return why[1]
            return None if note is None else self.wrong_note(rec, alts.index(alt), note)
        return f"no record {chrom}:{pos0 + 1}:{ref}:{alt} in {self.path}"

    def wrong_note(self, rec, index: int, note: dict) -> str | None:
        expected = {"id": rec.id, "af": None, "clnsig": None}
        for predicate in self.filter["predicates"]:
            if predicate["kind"] == "min_af" and expected["af"] is None:
                values = rec.info.get(predicate["field"])
                values = values if isinstance(values, tuple) else (values,)
                expected["af"] = values[index] if index < len(values) else None
            elif predicate["kind"] == "clnsig":
                expected["clnsig"] = sorted(classifications(rec, "CLNSIG"))
        for key, value in expected.items():
            if note[key] != value:
                return f"{key} {note[key]!r} is not the record's {value!r}"
        return None


class HaplotypeSource(VcfSource):
    """A haplotype source of the run, read again from the phased VCF its store was made from: which alleles
    one haplotype carries in a window, by the rules `genolewm.providers.haplotypes` documents."""

    def __init__(self, name: str, spec: dict) -> None:
        super().__init__(name, {"path": spec["vcf"], "filter": spec["filter"]})
        self.samples = set(spec["samples"])
        self.max_edits = spec["max_edits"]

    def carried(self, window: dict, margin: int, sample: str, haplotype: int, held_out) -> list[tuple[int, str, str]]:
        """The ``(rel_pos, ref, alt)`` a tuple of ``sample``'s ``haplotype`` holds in ``window``: its phased
        ALT alleles starting and ending inside the margins that the filter passes and whose REF is the
        window's, less held-out keys (``held_out(pos1, ref, alt)``), the first of overlapping ones, capped."""
        file_chrom = self.contigs.find(window["chrom"])
        if file_chrom is None:
            return []
        seq, begin = window["sequence"], window["start_bp"]
        lo, hi = begin + margin, window["end_bp"] - margin
        out: list[tuple[int, str, str]] = []
        end = -1
        for rec in self.vcf.fetch(file_chrom, lo, hi):
            if not lo <= rec.start < hi:
                continue
            call = rec.samples[sample]
            gt = call.get("GT")
            if gt is None or len(gt) != 2 or not call.phased or gt[haplotype] is None or not gt[haplotype]:
                continue
            alts = rec.alts or ()
            if gt[0] is not None and gt[0] > len(alts) or gt[1] is not None and gt[1] > len(alts) \
                    or None in gt:
                continue  # a call past the ALTs, or half missing: not used
            index = gt[haplotype] - 1
            ref, alt = rec.ref.upper(), alts[index].upper()
            if not (set(ref + alt) <= set("ACGT") and max(len(ref), len(alt)) <= self.filter["max_allele_len"]
                    and ref != alt):
                continue
            rel = rec.start - begin
            if rec.start + len(ref) > hi or seq[rel : rel + len(ref)] != ref:
                continue
            if any(why_not_predicate(p, rec, index, ref, alt) for p in self.filter["predicates"]):
                continue
            if held_out(rec.start + 1, ref, alt):
                continue
            if rel < end:
                continue  # overlaps the allele kept before it on this haplotype
            if len(out) == self.max_edits:
                break
            out.append((rel, ref, alt))
            end = rel + len(ref)
        return out


def why_not_synthetic(spec: dict, ref: str, alt: str) -> str | None:
    """Whether an edit has the shape its synthetic source draws; an unknown kind fails the audit."""
    kind, found = spec["kind"], edit_type_of(ref, alt)
    if kind == "synthetic_snv":
        return None if found == "SNV" else f"a {found}, not an SNV"
    if kind == "synthetic_indel":
        event = abs(len(alt) - len(ref))
        if found not in ("INS", "DEL"):
            return f"a {found}, not an anchored insertion or deletion"
        return None if 1 <= event <= spec["max_event_bp"] else f"event of {event} bp, over {spec['max_event_bp']}"
    raise AuditError(f"provider kind {kind!r}: the audit cannot check it; add a check to genolewm.audit")


class HoldoutCheck:
    """The run's holdout, read again from its config and files."""

    def __init__(self, spec: dict) -> None:
        if spec.get("kind") != "policy":
            raise AuditError(f"holdout kind {spec.get('kind')!r}: the audit cannot check it; "
                             "add a check to genolewm.audit")
        self.chroms = {canonical(c) for c in spec.get("chroms") or ()}
        self.records = set(spec.get("record_ids") or ())
        self.intervals = read_intervals(spec["bed"]) if spec.get("bed") else {}
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


def read_intervals(path: str) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for line in Path(path).read_text().splitlines():
        cols = line.split()
        if len(cols) >= 3 and not line.lstrip().startswith(("#", "track", "browser")):
            out.setdefault(canonical(cols[0]), []).append((int(cols[1]), int(cols[2])))
    return out


class Sequences:
    """Where windows come from, per the window source's spec: a reference FASTA (optionally only inside
    BED regions) or a corpus; an unknown kind fails the audit."""

    def __init__(self, spec: dict) -> None:
        self.kind = spec["kind"]
        if self.kind not in ("reference", "corpus"):
            raise AuditError(f"windows kind {self.kind!r}: the audit cannot check it; add a check to genolewm.audit")
        self.mask = spec.get("non_acgtn") == "mask"
        self.fasta = pysam.FastaFile(spec["fasta"]) if self.kind == "reference" else None
        self.regions = read_intervals(spec["regions"]) if spec.get("regions") else None
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


@dataclass(frozen=True)
class RecordCheck:
    """``why_not(window row, edit row)`` for the edits of a VCF or haplotype source: records of its VCF."""

    source: VcfSource

    def __call__(self, window: dict, edit: dict) -> str | None:
        if window["chrom"] is None:
            what = "haplotype" if isinstance(self.source, HaplotypeSource) else "VCF"
            return f"a {what} edit on an unplaced window"
        return self.source.why_not(window["chrom"], window["start_bp"] + edit["rel_pos"], edit["ref"], edit["alt"],
                                   edit)


def edit_checker(name: str, spec: dict):
    """``why_not(window row, edit row)`` for the edits of one provider, from its spec."""
    kind = spec.get("kind")
    if kind in ("vcf", "haplotypes"):
        for predicate in spec["filter"]["predicates"]:
            if predicate["kind"] not in PREDICATE_KINDS:
                raise AuditError(f"providers.{name}: filter predicate kind {predicate['kind']!r}: the audit cannot "
                                 "check it; add a check to genolewm.audit")
        # A haplotype source's edits are records of its phased VCF, as a VCF source's are of its VCF.
        return RecordCheck(VcfSource(name, spec) if kind == "vcf" else HaplotypeSource(name, spec))
    if kind in SYNTHETIC_KINDS:

        def why_not_drawn(window: dict, edit: dict) -> str | None:
            if any(edit.get(key) is not None for key in ("id", "af", "clnsig")):
                return "a synthetic edit with a VCF record's id, af or clnsig"
            return why_not_synthetic(spec, edit["ref"], edit["alt"])

        return why_not_drawn
    raise AuditError(f"providers.{name}: provider kind {kind!r}: the audit cannot check it; "
                     "add a check to genolewm.audit")
