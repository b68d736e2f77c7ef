"""Phased genotype calls: which allele each haplotype of a sample carries, read from VCF sample columns in bulk.

A sample's value begins with its GT (VCF puts GT first in FORMAT). Only a
phased diploid call with both alleles called (``a|b``) is used: haplotype 0
carries allele ``a``, haplotype 1 allele ``b`` (0 the REF, ``k`` the k-th
ALT). Phasing is never invented; every other call is not used and is
counted by the first reason that applies:

- ``missing``: no allele called (``.|.``, ``./.``, ``.``);
- ``unphased``: ``a/b`` with an allele called;
- ``half_missing``: a phased call with one allele missing (``.|1``);
- ``haploid``: one allele (chrX and chrY of males outside the PARs, chrM);
- ``not_a_genotype``: anything else (``1|1|0``, ``a|b``, an empty value);
- ``allele_out_of_range``: an index past the record's ALT alleles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrow import as_numpy, column
from .records import is_one_of

GT_REASONS = ("missing", "unphased", "half_missing", "haploid", "not_a_genotype", "allele_out_of_range")
NOT_USED = -1
# Longer indices than this are no allele any VCF writes: read as not a genotype, never parsed.
MAX_INDEX_DIGITS = 4
# GT is the text before the first ":", if any.
_DIPLOID = r"^(?P<a>[0-9]+|\.)(?P<sep>[|/])(?P<b>[0-9]+|\.)(?::|$)"
_HAPLOID = r"^([0-9]+|\.)(?::|$)"
_NO_CALL = r"^\.(?::|$)"


@dataclass(frozen=True)
class PhasedCalls:
    """Per record and sample: the allele each haplotype carries, and why a call is not used.

    ``alleles`` is int16 ``[records, samples, 2]``: 0 the REF, ``k`` the
    k-th ALT, -1 where the call is not used. ``reasons`` is int8
    ``[records, samples]``: -1 where the call is used, else an index into
    `GT_REASONS`.
    """

    alleles: np.ndarray
    reasons: np.ndarray

    def counts(self) -> Counter:
        """Calls not used, by reason."""
        codes, n = np.unique(self.reasons[self.reasons >= 0], return_counts=True)
        return Counter({GT_REASONS[c]: int(k) for c, k in zip(codes.tolist(), n.tolist())})


def phased_calls(samples: Sequence[pa.Array], n_alts: np.ndarray) -> PhasedCalls:
    """The calls of ``samples`` (per sample, its values of consecutive records: Arrow strings, GT first)
    for records with ``n_alts`` ALT alleles each."""
    n = len(n_alts)
    alleles = np.full((n, len(samples), 2), NOT_USED, np.int16)
    reasons = np.full((n, len(samples)), NOT_USED, np.int8)
    for s, values in enumerate(samples):
        alleles[:, s], reasons[:, s] = _one_sample(values, np.asarray(n_alts, np.int64))
    return PhasedCalls(alleles, reasons)


def _one_sample(values: pa.Array, n_alts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample's ``[records, 2]`` alleles and per-record reasons (see `PhasedCalls`).

    No Python scalar enters a compute call: pyarrow would import pandas for it (see genolewm.arrow)."""
    parts = pc.extract_regex(values, pattern=_DIPLOID)
    diploid = as_numpy(pc.is_valid(parts), False)
    a, sep, b = (parts.field(name) for name in ("a", "sep", "b"))
    a_missing = is_one_of(a, ".") & diploid
    b_missing = is_one_of(b, ".") & diploid
    phased = is_one_of(sep, "|") & diploid
    short = (as_numpy(pc.utf8_length(a)) <= MAX_INDEX_DIGITS) & (as_numpy(pc.utf8_length(b)) <= MAX_INDEX_DIGITS)
    reason = np.full(len(n_alts), NOT_USED, np.int8)

    def mark(name: str, where: np.ndarray) -> None:  # the first reason that applies
        reason[where & (reason == NOT_USED)] = GT_REASONS.index(name)

    mark("missing", (a_missing & b_missing) | as_numpy(pc.match_substring_regex(values, pattern=_NO_CALL), False))
    mark("unphased", diploid & ~phased)
    mark("half_missing", a_missing | b_missing)
    mark("haploid", as_numpy(pc.match_substring_regex(values, pattern=_HAPLOID), False))
    mark("not_a_genotype", ~diploid | ~short)
    pair = np.full((len(n_alts), 2), NOT_USED, np.int64)
    called = reason == NOT_USED
    if called.any():
        mask = column(called, pa.bool_())
        for k, side in enumerate((a, b)):
            pair[called, k] = as_numpy(pc.cast(pc.filter(side, mask), pa.int64()))
        mark("allele_out_of_range", called & (pair.max(axis=1) > n_alts))
        pair[reason != NOT_USED] = NOT_USED
    return pair.astype(np.int16), reason


def phased_calls_of_lines(lines: Sequence[bytes], n_samples: int, n_alts: np.ndarray) -> PhasedCalls:
    """The calls of VCF body lines (bytes without the newline; samples from the tenth column on) for
    records with ``n_alts`` ALT alleles each.

    Lines whose sample columns are all one-digit phased calls and nothing else (``0|1``, FORMAT ``GT``
    only, as the phased panels write them) are read together as a byte matrix, four bytes a call and
    its tab; the other lines go through one column of all their values. The result is the same either way.
    """
    n_alts = np.asarray(n_alts, np.int64)
    alleles = np.full((len(lines), n_samples, 2), NOT_USED, np.int16)
    reasons = np.full((len(lines), n_samples), NOT_USED, np.int8)
    width = 4 * n_samples - 1
    starts = [_samples_start(line) for line in lines]
    simple = np.array([s >= 0 and len(line) - s == width for line, s in zip(lines, starts)], bool)
    rows = np.flatnonzero(simple)
    if len(rows):
        # A call and the tab after it, "a|b\t", is four bytes: a row of the matrix per line.
        raw = np.frombuffer(b"".join(lines[r][starts[r]:] + b"\t" for r in rows.tolist()), np.uint8)
        raw = raw.reshape(len(rows), n_samples, 4)
        digits = raw[:, :, 0::2] - np.uint8(ord("0"))  # a and b; bytes below "0" wrap past 9
        fits = ((raw[:, :, 1] == ord("|")) & (raw[:, :, 3] == ord("\t"))).all(axis=1) \
            & (digits <= 9).reshape(len(rows), -1).all(axis=1)
        done = rows[fits]
        pair = digits[fits].astype(np.int16)
        out = np.maximum(pair[:, :, 0], pair[:, :, 1]) > n_alts[done][:, None]
        pair[out] = NOT_USED
        alleles[done] = pair
        reasons[done] = np.where(out, np.int8(GT_REASONS.index("allele_out_of_range")), np.int8(NOT_USED))
        simple[rows[~fits]] = False
    rest = np.flatnonzero(~simple)
    if len(rest):
        # One column of every value of these lines, record-major: one pass of the compute kernels, however
        # many samples.
        values = []
        for r in rest.tolist():
            fields = lines[r].decode().split("\t")[9 : 9 + n_samples]
            values += fields + [""] * (n_samples - len(fields))
        pair, reason = _one_sample(column(values, pa.string()), np.repeat(n_alts[rest], n_samples))
        alleles[rest] = pair.reshape(len(rest), n_samples, 2)
        reasons[rest] = reason.reshape(len(rest), n_samples)
    return PhasedCalls(alleles, reasons)


def _samples_start(line: bytes) -> int:
    """Where the tenth column of a VCF line starts, or -1 where it has fewer."""
    at = -1
    for _ in range(9):
        at = line.find(b"\t", at + 1)
        if at < 0:
            return -1
    return at + 1
