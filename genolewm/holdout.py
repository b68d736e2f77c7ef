"""Holdouts: what must never reach a trainer (`Holdout`).

Intervals are 0-based half-open (BED); variant keys are ``chrom:pos:ref:alt``
with the 1-based VCF position. Lookup structures are built once, when the
policy is created.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Sequence

from .bed import check_key, read_bed, read_keys
from .contigs import ContigNames
from .edits import edit_key
from .errors import ConfigError, ContractError
from .types import HoldoutInterval, RelEdit, WindowContext, digest

SCHEMA_VERSION = "1.0.0"


@dataclass(frozen=True)
class HoldoutPolicy:
    """Exclusions enforced before a tuple reaches the trainer.

    ``bed`` and ``keys`` are the files the intervals and keys were read
    from (when they were), so the manifest can hash them and the audit can
    read them again.
    """

    holdout_chroms: tuple[str, ...] = ()
    intervals: tuple[HoldoutInterval, ...] = ()
    edit_keys: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    bed: str | None = field(default=None, compare=False)
    keys: str | None = field(default=None, compare=False)
    _chroms: frozenset = field(init=False, repr=False, compare=False)
    _keys: frozenset = field(init=False, repr=False, compare=False)
    _records: frozenset = field(init=False, repr=False, compare=False)
    _by_chrom: dict = field(init=False, repr=False, compare=False)
    _key_positions: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("holdout_chroms", "intervals", "edit_keys", "record_ids"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for iv in self.intervals:
            if not isinstance(iv, HoldoutInterval):
                raise ContractError(f"HoldoutPolicy.intervals holds {iv!r}, not a HoldoutInterval")
        for key in self.edit_keys:
            check_key(key, "holdout.edit_keys")
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
        positions: dict[str, set[int]] = {}
        for key in self.edit_keys:
            chrom, pos, _, _ = key.rsplit(":", 3)
            positions.setdefault(chrom, set()).add(int(pos))
        object.__setattr__(self, "_key_positions", positions)

    @classmethod
    def from_files(
        cls,
        chroms: Sequence[str] = (),
        bed: str | None = None,
        keys: str | None = None,
        record_ids: Sequence[str] = (),
    ) -> "HoldoutPolicy":
        """Build a policy from chromosome names, a BED file and a key-list file.

        Args:
            chroms: Whole chromosomes held out, in any naming (`chr8`, `8`, `NC_000008.11`).
            bed: A BED file of held-out intervals (0-based half-open); null: none.
            keys: A file of held-out variant keys `chrom:pos:ref:alt` (1-based pos, as in VCF), one per line;
                null: none.
            record_ids: Held-out record ids: a window of such a record yields nothing.
        """
        return cls(
            holdout_chroms=tuple(str(c) for c in chroms),
            intervals=tuple(read_bed(bed)) if bed else (),
            edit_keys=tuple(read_keys(keys)) if keys else (),
            record_ids=tuple(str(r) for r in record_ids),
            bed=bed or None, keys=keys or None,
        )

    def in_reference_names(self, reference: ContigNames, others: Sequence[ContigNames] = (),
                           records: Sequence[str] | None = None) -> "HoldoutPolicy":
        """This policy with every contig spelt as the reference spells it.

        A contig found in none of the inputs (reference or ``others``), or a
        record id that is none of ``records`` (when given), is an error: a
        misspelt holdout would otherwise hold out nothing.
        """
        unknown = [r for r in self.record_ids if records is not None and r not in set(records)]
        if unknown:
            shown = ", ".join(list(records)[:6]) + (" ..." if len(records) > 6 else "")
            raise ConfigError(f"holdout.record_ids: {', '.join(unknown)} is no record of the windows' input "
                              f"({shown or 'none'}); a misspelt holdout would hold out nothing")

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

        return replace(
            self,
            holdout_chroms=tuple(rename(c, "holdout.chroms") for c in self.holdout_chroms),
            intervals=tuple(
                HoldoutInterval(rename(iv.chrom, "holdout.bed"), iv.start_bp, iv.end_bp) for iv in self.intervals
            ),
            edit_keys=tuple(rename_key(k) for k in self.edit_keys),
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
        # Most edits sit at no held-out position: one int lookup spares formatting their keys.
        positions = self._key_positions.get(window.chrom)
        return bool(positions) and window.start_bp + edit.rel_pos + 1 in positions \
            and edit_key(window.chrom, window.start_bp, edit) in self._keys

    def to_dict(self) -> dict:
        """The policy as plain data (the seed's layout, ``schema_version`` 1.0.0)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "holdout_chroms": list(self.holdout_chroms),
            "intervals": [{"chrom": iv.chrom, "start_bp": iv.start_bp, "end_bp": iv.end_bp} for iv in self.intervals],
            "edit_keys": list(self.edit_keys),
            "record_ids": list(self.record_ids),
        }

    def identity(self) -> str:
        """``sha256:`` + the sha256 of `to_dict` as canonical JSON."""
        return digest(self.to_dict())

    def inputs(self) -> tuple[str, ...]:
        return tuple(path for path in (self.bed, self.keys) if path)

    def audit_spec(self) -> dict:
        return {"kind": "policy", "chroms": list(self.holdout_chroms), "bed": self.bed, "keys": self.keys,
                "record_ids": list(self.record_ids)}
