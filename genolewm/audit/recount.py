"""What the audit counts again from the inputs: every planned window, and every skipped VCF allele.

Windows: the run's shards are the plan blocks ``k`` with ``k % shard.count ==
shard.index``; each planned window of those blocks is kept, held out or
mostly N, and the kept ones are exactly the window rows.

Skipped alleles (the manifest's ``variants_skipped``): a VCF source counts
each allele it skips once, for the records that start inside the edge
margins of a kept placed window, by the first reason that applies: FILTER,
then the allele's shape, then the filter predicates in order; a usable
allele lying wholly inside one such window whose REF differs from the
reference is a ``ref_mismatch``, or ``ref_ambiguous`` where the reference
has anything but A/C/G/T there (N, or an IUPAC code). The audit's rules are
its own.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Callable, Iterable

import pysam

from ..contigs import ContigNames
from ..remote import local_index
from .checks import why_not_predicate

ACGT = frozenset("ACGT")


def plan_accounting(windows, blocks: Iterable[tuple[int, int]], held: Callable[[dict], bool],
                    split: str) -> tuple[list[int], Counter, Counter]:
    """The plan indices a run over ``blocks`` keeps, its window counts (seen, kept, held out, mostly N) and
    the IUPAC codes its windows read as N."""
    kept: list[int] = []
    counts: Counter = Counter()
    masked: Counter = Counter()
    for start, stop in blocks:
        for index, window, codes in windows.iter_plan(start, stop):
            masked.update(codes)
            counts["seen"] += 1
            if window is None:
                counts["skipped_n"] += 1
                continue
            row = {"record_id": window.record_id, "chrom": window.chrom, "start_bp": window.start_bp,
                   "end_bp": window.end_bp}
            if held(row) != (split == "val"):
                counts["excluded_by_holdout"] += 1
                continue
            counts["kept"] += 1
            kept.append(index)
    return kept, counts, masked


def _reason(rec, index: int, ref: str, alt: str | None, spec: dict) -> str | None:
    if alt is None:
        return "no_alt"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return "symbolic"
    if alt == "*":
        return "spanning_deletion"
    longest = spec["max_allele_len"]
    for allele, is_alt in ((ref, False), (alt.upper(), True)):
        if is_alt and allele == "N":
            return "alt_n"
        if not allele or set(allele) - ACGT:
            return "non_acgt"
        if len(allele) > longest:
            return "too_long"
    if ref == alt.upper():
        return "ref_equals_alt"
    for predicate in spec["predicates"]:
        why = why_not_predicate(predicate, rec, index, ref, alt.upper()) if predicate["kind"] != "pass_only" else None
        if why:
            return why[0]
    return None


def skipped_alleles(vcf_path: str, spec: dict, windows: list[tuple[str, int, int]], margin: int,
                    fasta: pysam.FastaFile) -> tuple[Counter, dict]:
    """The alleles one VCF source skipped over the kept placed ``windows`` (chrom, start, end), by reason;
    and, when it filters on CLNSIG, every allele there by CLNSIG value as written and whether the filter
    selected it (``{value: {"selected": n, "rejected": n}}``)."""
    by_chrom: dict[str, list[tuple[int, int]]] = {}
    for chrom, start, end in windows:
        by_chrom.setdefault(chrom, []).append((start + margin, end - margin))
    pass_only = any(p["kind"] == "pass_only" for p in spec["predicates"])
    out: Counter = Counter()
    classes: dict[str, dict[str, int]] = {}
    by_clnsig = any(p["kind"] == "clnsig" for p in spec["predicates"])
    with pysam.VariantFile(vcf_path, index_filename=local_index(vcf_path)) as vcf:
        contigs = ContigNames(vcf.header.contigs)
        for chrom, interiors in by_chrom.items():
            file_chrom = contigs.find(chrom)
            if file_chrom is None:
                continue
            interiors.sort()
            starts = [lo for lo, _ in interiors]
            for lo, hi in _union(interiors):
                for rec in vcf.fetch(file_chrom, lo, hi):
                    if not lo <= rec.start < hi:
                        continue
                    ref = rec.ref.upper()
                    filters = list(rec.filter.keys())
                    alts = rec.alts or (None,)
                    clnsig = rec.info.get("CLNSIG") if by_clnsig and "CLNSIG" in rec.header.info else None
                    value = "." if clnsig is None else ",".join(clnsig) if isinstance(clnsig, tuple) else clnsig
                    for index, alt in enumerate(alts):
                        if pass_only and filters and filters != ["PASS"]:
                            reason = "not_pass"
                        else:
                            reason = _reason(rec, index, ref, alt, spec)
                        if by_clnsig:
                            tally = classes.setdefault(value, {"selected": 0, "rejected": 0})
                            tally["rejected" if reason else "selected"] += 1
                        if reason is None and _inside_one(interiors, starts, rec.start, len(ref)):
                            actual = fasta.fetch(chrom, rec.start, rec.start + len(ref)).upper()
                            if actual != ref:
                                reason = "ref_mismatch" if set(actual) <= ACGT else "ref_ambiguous"
                        if reason is not None:
                            out[reason] += 1
    return out, dict(sorted(classes.items()))


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for lo, hi in intervals:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _inside_one(interiors: list[tuple[int, int]], starts: list[int], start: int, length: int) -> bool:
    """Whether ``[start, start + length)`` lies wholly inside one window interior.

    The interiors all have one width, so of those starting at or before
    ``start`` the last one reaches farthest.
    """
    last = bisect.bisect_right(starts, start) - 1
    return last >= 0 and start + length <= interiors[last][1]
