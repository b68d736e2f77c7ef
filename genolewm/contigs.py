"""Contig aliases: ``chr1``/``1``, ``chrX``/``X``, ``chrM``/``MT``.

Each file names contigs its own way; the reference FASTA's names are the
ones genolewm uses everywhere (windows, manifest, variant keys). A
`ContigNames` built from one file's names translates a name written
in any convention to that file's spelling.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

# RefSeq accessions of the human chromosomes (NC_000001 to NC_000024: 1-22, X, Y) and mitochondrion.
_REFSEQ = re.compile(r"^NC_0(000(?:0[1-9]|1\d|2[0-4])|12920)\.\d+$")


def canonical(name: str) -> str:
    """The convention-free form of a contig name: no ``chr`` prefix, ``M`` spelled ``MT``, RefSeq's
    accessions of the human chromosomes (``NC_000001.11``) as their numbers."""
    refseq = _REFSEQ.match(name)
    if refseq:
        number = int(refseq.group(1))
        return "MT" if number == 12920 else {23: "X", 24: "Y"}.get(number, str(number))
    bare = name[3:] if name[:3].lower() == "chr" else name
    if bare.upper() in ("M", "MT"):
        return "MT"
    return bare.upper() if len(bare) <= 2 else bare


class ContigNames:
    """The contig names of one file, looked up in any naming convention; ``records`` the file's records per
    contig where its index says."""

    def __init__(self, names: Iterable[str], records: dict[str, int] | None = None) -> None:
        self.names = list(names)
        self.records = records or {}
        self._exact = set(self.names)
        self._by_canonical: dict[str, str] = {}
        for name in self.names:
            self._by_canonical.setdefault(canonical(name), name)

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def __bool__(self) -> bool:
        return bool(self.names)

    def find(self, name: str) -> str | None:
        """This file's spelling of ``name``, or None if it has no such contig."""
        if name in self._exact:
            return name
        return self._by_canonical.get(canonical(name))

    def absent_from(self, other: "ContigNames") -> dict[str, int | None]:
        """The contigs ``other`` has under no spelling, with their records (None: not known)."""
        return {name: self.records.get(name) for name in self.names if name not in other}

    def preview(self, limit: int = 6) -> str:
        shown = ", ".join(self.names[:limit])
        return shown + (" ..." if len(self.names) > limit else "")


# What the GRCh38 FASTAs (NCBI analysis sets, UCSC, Ensembl, GENCODE, the GATK bundle) hold besides the
# assembled chromosomes, recognised by name; checked in this order.
_KINDS = (
    ("hla", re.compile(r"^HLA-")),
    ("decoy", re.compile(r"_decoy$|^hs\d+d\d+$", re.I)),
    ("alt", re.compile(r"_alt$", re.I)),
    ("fix", re.compile(r"_fix$", re.I)),
    ("random", re.compile(r"_random$", re.I)),
    ("unplaced", re.compile(r"^(chr)?Un_|^(GL|KI|JH|KN|KQ|KV|KZ|ML|MU)\d+(\.\d+)?$|^N[TW]_\d+", re.I)),
    ("ebv", re.compile(r"^(chr)?EBV$", re.I)),
)
# Assembled chromosomes in any genome: numbers, and the sex chromosomes.
_CHROMOSOME = re.compile(r"^(\d+|X|Y|W|Z)$")
SEQUENCE_KINDS = ("chromosome", "mitochondrion") + tuple(kind for kind, _ in _KINDS) + ("other",)


def sequence_kind(name: str) -> str:
    """What a reference sequence is, by its name: ``chromosome`` (1-22, X, Y, ... in any naming, or their
    RefSeq accessions), ``mitochondrion``, ``hla``, ``decoy``, ``alt``, ``fix``, ``random``, ``unplaced``,
    ``ebv`` or ``other``."""
    for kind, pattern in _KINDS:
        if pattern.search(name):
            return kind
    bare = canonical(name)
    if bare == "MT":
        return "mitochondrion"
    return "chromosome" if _CHROMOSOME.match(bare) else "other"


def count_kinds(names: Iterable[str]) -> dict[str, int]:
    """How many of ``names`` are of each `sequence_kind`, in `SEQUENCE_KINDS` order."""
    counts = Counter(map(sequence_kind, names))
    return {kind: counts[kind] for kind in SEQUENCE_KINDS if counts[kind]}
