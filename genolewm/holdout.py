"""Holdouts: what must never reach a trainer.

Intervals are 0-based half-open (BED); variant keys are ``chrom:pos:ref:alt``
with the 1-based VCF position. Lookup structures are built once, when the
policy is created.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .contigs import ContigNames
from .edits import RelEdit, edit_key
from .errors import ConfigError, InputError
from .windows import WindowContext


@dataclass(frozen=True, slots=True, order=True)
class HoldoutInterval:
    """0-based half-open genomic interval excluded from training."""

    chrom: str
    start_bp: int
    end_bp: int

    def __post_init__(self) -> None:
        if not (0 <= self.start_bp < self.end_bp):
            raise ConfigError(
                f"holdout interval {self.chrom}:{self.start_bp}-{self.end_bp}: need 0 <= start < end"
            )

    def intersects(self, chrom: str, start_bp: int, end_bp: int) -> bool:
        """Whether ``[start_bp, end_bp)`` on ``chrom`` overlaps this interval."""
        return chrom == self.chrom and start_bp < self.end_bp and self.start_bp < end_bp


@dataclass(frozen=True)
class HoldoutPolicy:
    """Exclusions enforced before a tuple reaches the trainer."""

    holdout_chroms: tuple[str, ...] = ()
    intervals: tuple[HoldoutInterval, ...] = ()
    edit_keys: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    _chroms: frozenset = field(init=False, repr=False, compare=False)
    _keys: frozenset = field(init=False, repr=False, compare=False)
    _records: frozenset = field(init=False, repr=False, compare=False)
    _by_chrom: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in self.edit_keys:
            _check_key(key, "holdout.edit_keys")
        by_chrom: dict[str, tuple[list[int], list[int]]] = {}
        for iv in sorted(self.intervals):
            starts, ends = by_chrom.setdefault(iv.chrom, ([], []))
            starts.append(iv.start_bp)
            # Running maximum of ends lets one bisect answer "any overlap?".
            ends.append(max(iv.end_bp, ends[-1]) if ends else iv.end_bp)
        object.__setattr__(self, "_chroms", frozenset(self.holdout_chroms))
        object.__setattr__(self, "_keys", frozenset(self.edit_keys))
        object.__setattr__(self, "_records", frozenset(self.record_ids))
        object.__setattr__(self, "_by_chrom", by_chrom)

    @classmethod
    def from_files(
        cls,
        chroms: Sequence[str] = (),
        bed: str | None = None,
        keys: str | None = None,
        record_ids: Sequence[str] = (),
    ) -> "HoldoutPolicy":
        """Build a policy from chromosome names, a BED file and a key-list file."""
        return cls(
            holdout_chroms=tuple(str(c) for c in chroms),
            intervals=tuple(read_bed(bed)) if bed else (),
            edit_keys=tuple(read_keys(keys)) if keys else (),
            record_ids=tuple(str(r) for r in record_ids),
        )

    def in_reference_names(self, reference: ContigNames, others: Sequence[ContigNames] = ()) -> "HoldoutPolicy":
        """This policy with every contig spelt as the reference spells it.

        A contig found in none of the inputs (reference or ``others``) is an
        error: a misspelt holdout would otherwise hold out nothing.
        """

        def rename(name: str, where: str) -> str:
            found = reference.find(name)
            if found is not None:
                return found
            if any(name in other for other in others):
                return name
            raise ConfigError(
                f"{where}: contig {name!r} is in none of the inputs (reference: {reference.preview() or 'none'}); "
                "a misspelt holdout would hold out nothing"
            )

        def rename_key(key: str) -> str:
            chrom, rest = key.split(":", 1)
            return f"{rename(chrom, 'holdout.keys')}:{rest}"

        return HoldoutPolicy(
            holdout_chroms=tuple(rename(c, "holdout.chroms") for c in self.holdout_chroms),
            intervals=tuple(
                HoldoutInterval(rename(iv.chrom, "holdout.bed"), iv.start_bp, iv.end_bp) for iv in self.intervals
            ),
            edit_keys=tuple(rename_key(k) for k in self.edit_keys),
            record_ids=self.record_ids,
        )

    @property
    def removes_windows(self) -> bool:
        return bool(self._chroms or self._records or self._by_chrom)

    def interval_hits(self, chrom: str, start_bp: int, end_bp: int) -> bool:
        found = self._by_chrom.get(chrom)
        if not found:
            return False
        starts, ends = found
        i = bisect.bisect_left(starts, end_bp)
        return i > 0 and ends[i - 1] > start_bp

    def excludes_window(self, window: WindowContext) -> bool:
        """Whether the whole window is held out (chromosome, interval or record id)."""
        if window.record_id in self._records:
            return True
        if window.chrom is None:
            return False
        return window.chrom in self._chroms or self.interval_hits(window.chrom, window.start_bp, window.end_bp)

    def excludes_edit(self, window: WindowContext, edit: RelEdit) -> bool:
        """Whether one relative edit is a held-out variant key."""
        return window.chrom is not None and bool(self._keys) and edit_key(window.chrom, window.start_bp, edit) in self._keys

    def digest(self) -> str:
        """sha256 of the policy's canonical content, recorded in the manifest."""
        body = json.dumps(
            {
                "chroms": sorted(self._chroms),
                "intervals": [[iv.chrom, iv.start_bp, iv.end_bp] for iv in sorted(self.intervals)],
                "edit_keys": sorted(self._keys),
                "record_ids": sorted(self._records),
            },
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


def _check_key(key: str, where: str) -> None:
    # Alleles are not checked: a key whose alleles no edit can have only fails to
    # match, which never lets a held-out variant through.
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or not parts[0] or not parts[1].isdigit() or int(parts[1]) < 1:
        raise ConfigError(f"{where}: {key!r} is not a variant key chrom:pos:ref:alt with 1-based pos")


def _lines(path: str, key: str) -> Iterable[tuple[int, str]]:
    if not os.path.isfile(path):
        raise InputError(f"{key}: file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.strip()
            if line and not line.startswith(("#", "track", "browser")):
                yield lineno, line


def read_bed(path: str) -> list[HoldoutInterval]:
    """Intervals from the first three columns of a BED file."""
    out = []
    for lineno, line in _lines(path, "paths.holdout_bed"):
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            out.append(HoldoutInterval(cols[0], int(cols[1]), int(cols[2])))
        except (IndexError, ValueError, ConfigError) as exc:
            raise InputError(f"{path}:{lineno}: not a BED interval (chrom start end, 0-based): {line!r}") from exc
    return out


def read_keys(path: str) -> list[str]:
    """Variant keys, one ``chrom:pos:ref:alt`` per line."""
    out = []
    for lineno, line in _lines(path, "paths.holdout_keys"):
        try:
            _check_key(line, f"{path}:{lineno}")
        except ConfigError as exc:
            raise InputError(str(exc)) from exc
        out.append(line)
    return out
