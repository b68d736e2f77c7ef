"""Which VCF alleles a variant source may use: small predicates composed by `AlleleFilter`.

Every ALT allele of a record is checked in a fixed order and gets the first
reason that rejects it (``None``: usable):

1. record predicates that come first (``PassOnly``: ``not_pass``);
2. the allele's shape: ``no_alt`` (ALT ``.``), ``symbolic``,
   ``spanning_deletion``, then REF's ``non_acgt`` and ``too_long`` (over
   ``max_allele_len``), then ALT's ``alt_n`` (ALT ``N``), ``non_acgt`` and
   ``too_long``, and ``ref_equals_alt``;
3. the other predicates, in the order given (``MinAf``: ``af_missing`` /
   ``af_below_min``; ``ClnsigIn``: ``clnsig_missing`` / ``clnsig_not_selected``; ``EditTypeIn``:
   ``edit_type_not_selected``).

A predicate is a frozen dataclass with ``kind`` (what the audit checks it
as), ``first`` (checked before the alleles' shape), ``info_fields`` (the
INFO keys it reads), ``check_header`` and ``reasons(batch, rows)``: masks
over a `RecordBatch`'s alleles, so a
filter runs over thousands of records per call.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Iterator, Protocol, Sequence

import numpy as np
import pyarrow.compute as pc
import pysam

from ..arrow import as_indices, as_numpy
from ..errors import ConfigError
from ..types import EDIT_TYPES, MAX_ALLELE_BP, VariantNote, edit_type
from .records import RecordBatch, is_one_of, only_acgt


class AllelePredicate(Protocol):
    kind: ClassVar[str]
    first: ClassVar[bool]

    def info_fields(self) -> tuple[str, ...]: ...

    def check_header(self, header: pysam.VariantHeader, path: str, key: str) -> None: ...

    def reasons(self, batch: RecordBatch, rows: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """``(reason, rejected)`` masks over the alleles ``rows`` of ``batch``, in the order they apply."""
        ...


def _require_info(header: pysam.VariantHeader, name: str, path: str, key: str) -> None:
    if name not in header.info:
        raise ConfigError(
            f"{key}={name!r}: INFO field not declared in {path} (declared: {', '.join(list(header.info)[:12])})"
        )


def allele_frequency_keys(header: pysam.VariantHeader) -> list[str]:
    """The declared INFO keys that look like allele frequencies (Float, one per ALT, ``AF`` in the name),
    the shortest names first."""
    keys = [name for name, info in header.info.items()
            if info.type == "Float" and info.number == "A" and "AF" in name.upper()]
    return sorted(keys, key=lambda name: (len(name), name))


@dataclass(frozen=True)
class PassOnly:
    """Records whose FILTER is PASS or unset (``.``)."""

    kind: ClassVar[str] = "pass_only"
    first: ClassVar[bool] = True

    def info_fields(self) -> tuple[str, ...]:
        return ()

    def check_header(self, header, path, key) -> None:
        return None

    def reasons(self, batch, rows):
        yield "not_pass", ~batch.passed()[rows]


@dataclass(frozen=True)
class MinAf:
    """Alleles whose INFO ``field`` (Number=A) is at least ``min``."""

    field: str = "AF"
    min: float = 0.0
    kind: ClassVar[str] = "min_af"
    first: ClassVar[bool] = False

    def info_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def check_header(self, header, path, key) -> None:
        if self.field in header.info:
            return
        found = allele_frequency_keys(header)
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        hint = " (gnomAD v4.1 joint files: providers=gnomad_v4_joint)" if "AF_joint" in found else ""
        raise ConfigError(f"{key}.af_field={self.field!r}: INFO field not declared in {path}; its allele-frequency "
                          f"fields are {shown or 'none'}; set {key}.af_field to one of them{hint}")

    def reasons(self, batch, rows):
        af = batch.info_float(self.field)[rows]
        missing = np.isnan(af)
        yield "af_missing", missing
        yield "af_below_min", ~missing & (af < self.min)


@dataclass(frozen=True)
class ClnsigIn:
    """Records with a ClinVar classification in ``terms`` (INFO ``CLNSIG``) or in ``onc`` (INFO ``ONC``,
    the oncogenicity classification), matched whole (`split_terms`).

    A record with neither key (an ONC-only record when ``onc`` is empty, a
    somatic SCI-only one) is ``clnsig_missing``; one whose classifications
    are none of these is ``clnsig_not_selected``.
    """

    terms: frozenset[str] = frozenset()
    onc: frozenset[str] = frozenset()
    kind: ClassVar[str] = "clnsig"
    first: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", frozenset(self.terms))
        object.__setattr__(self, "onc", frozenset(self.onc))

    def info_fields(self) -> tuple[str, ...]:
        return ("CLNSIG", "ONC") if self.onc else ("CLNSIG",)

    def check_header(self, header, path, key) -> None:
        _require_info(header, "CLNSIG", path, f"{key}.clnsig")
        if self.onc:
            _require_info(header, "ONC", path, f"{key}.onc")

    def reasons(self, batch, rows):
        present, hit = batch.info_term_hits("CLNSIG", self.terms)
        if self.onc:
            onc_present, onc_hit = batch.info_term_hits("ONC", self.onc)
            present, hit = present | onc_present, hit | onc_hit
        yield "clnsig_missing", ~present[rows]
        yield "clnsig_not_selected", ~hit[rows]


@dataclass(frozen=True)
class EditTypeIn:
    """Alleles whose edit type (SNV, INS, DEL, MNV, INDEL) is in ``types``."""

    types: frozenset[str] = frozenset(EDIT_TYPES)
    kind: ClassVar[str] = "edit_types"
    first: ClassVar[bool] = False

    def __post_init__(self) -> None:
        types = frozenset(self.types)
        unknown = sorted(types - set(EDIT_TYPES))
        if unknown or not types:
            raise ConfigError(f"edit_types={sorted(types)}: allowed values are {', '.join(EDIT_TYPES)}")
        object.__setattr__(self, "types", types)

    def info_fields(self) -> tuple[str, ...]:
        return ()

    def check_header(self, header, path, key) -> None:
        return None

    def reasons(self, batch, rows):
        # Only alleles of A/C/G/T reach here, so the Python loop runs over what the other filters kept.
        take = as_indices(rows)
        pairs = zip(batch.ref.take(take).to_pylist(), batch.alt.take(take).to_pylist())
        yield "edit_type_not_selected", np.array([edit_type(r, a) not in self.types for r, a in pairs], dtype=bool)


def spec_of(predicate: AllelePredicate) -> dict:
    """A predicate as plain data for the audit and the manifest: ``{"kind": ..., fields ...}``."""
    return {"kind": predicate.kind,
            **{k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(predicate).items()}}


@dataclass
class Selected:
    """The alleles of a `RecordBatch` a filter keeps, as columns in file order, and the ones it
    skips (their record's start and the reason).

    ``af`` (NaN: none) and ``clnsig`` (frozenset, or None) are what the
    filter selected each kept allele by: with ``id``, the fields of its
    `VariantNote`, made only for the alleles drawn.
    """

    start: np.ndarray
    ref: list[str]
    alt: list[str]
    id: np.ndarray
    af: np.ndarray
    clnsig: np.ndarray
    skipped_start: np.ndarray
    skipped_reason: np.ndarray
    # Per kept and per skipped allele: its record's CLNSIG as written ("." where it has none), when the
    # filter selects by classification; None otherwise.
    classes: np.ndarray | None = None
    skipped_classes: np.ndarray | None = None

    def since(self, start: int) -> "Selected":
        """The alleles (kept and skipped) whose record starts at or after ``start``."""
        k, s = np.searchsorted(self.start, start), np.searchsorted(self.skipped_start, start)
        return Selected(self.start[k:], self.ref[k:], self.alt[k:], self.id[k:], self.af[k:], self.clnsig[k:],
                        self.skipped_start[s:], self.skipped_reason[s:],
                        None if self.classes is None else self.classes[k:],
                        None if self.skipped_classes is None else self.skipped_classes[s:])


def variant_note(id_: str | None, af: float, clnsig: frozenset[str] | None) -> VariantNote:
    """The note of a kept allele from its `Selected` fields (``af`` NaN: none)."""
    return VariantNote(id_, None if af != af else float(af), None if clnsig is None else tuple(sorted(clnsig)))


@dataclass(frozen=True)
class AlleleFilter:
    """The predicates a variant source applies, and the longest allele it takes."""

    predicates: tuple[AllelePredicate, ...] = ()
    max_allele_len: int = MAX_ALLELE_BP
    _first: tuple = field(init=False, repr=False, compare=False)
    _rest: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_allele_len, int) or not 1 <= self.max_allele_len <= MAX_ALLELE_BP:
            raise ConfigError(f"max_allele_len={self.max_allele_len!r}: must be an integer in [1, {MAX_ALLELE_BP}]")
        object.__setattr__(self, "predicates", tuple(self.predicates))
        object.__setattr__(self, "_first", tuple(p for p in self.predicates if p.first))
        object.__setattr__(self, "_rest", tuple(p for p in self.predicates if not p.first))

    @classmethod
    def from_settings(
        cls, *, af_field: str = "AF", min_af: float | None = None, clnsig: Sequence[str] | None = None,
        onc: Sequence[str] | None = None, pass_only: bool = True, max_allele_len: int = MAX_ALLELE_BP,
        edit_types: Sequence[str] | None = None,
    ) -> "AlleleFilter":
        """The filter a provider's flat settings describe (the keys of ``providers.<name>``)."""
        predicates: list = [PassOnly()] if pass_only else []
        if min_af is not None:
            predicates.append(MinAf(af_field, min_af))
        if clnsig is not None or onc is not None:
            predicates.append(ClnsigIn(frozenset(clnsig or ()), frozenset(onc or ())))
        if edit_types is not None:
            predicates.append(EditTypeIn(frozenset(edit_types)))
        return cls(tuple(predicates), max_allele_len)

    def spec(self) -> dict:
        return {"max_allele_len": self.max_allele_len, "predicates": [spec_of(p) for p in self.predicates]}

    def info_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for p in self.predicates for f in p.info_fields()))

    def check_header(self, header: pysam.VariantHeader, path: str, key: str) -> None:
        for predicate in self.predicates:
            predicate.check_header(header, path, key)

    def _shape(self, batch: RecordBatch) -> Iterator[tuple[str, np.ndarray]]:
        """The allele-shape reasons, over every allele of ``batch``, in the order they apply."""
        ref, alt = batch.ref, batch.alt
        yield "no_alt", is_one_of(alt, ".")  # a reference-only record (ClinVar has them)
        yield "symbolic", as_numpy(pc.starts_with(alt, pattern="<")) \
            | as_numpy(pc.match_substring(alt, pattern="[")) | as_numpy(pc.match_substring(alt, pattern="]"))
        yield "spanning_deletion", is_one_of(alt, "*")
        # REF is the record's: its reasons come before the ALT's own.
        yield "non_acgt", ~only_acgt(ref)
        yield "too_long", as_numpy(pc.binary_length(ref)) > self.max_allele_len
        yield "alt_n", is_one_of(alt, "N")  # the submitted allele was ambiguous (ClinVar)
        yield "non_acgt", ~only_acgt(alt)
        yield "too_long", as_numpy(pc.binary_length(alt)) > self.max_allele_len
        yield "ref_equals_alt", as_numpy(pc.equal(ref, alt))

    def reasons(self, batch: RecordBatch) -> np.ndarray:
        """Per allele of ``batch``: the first reason that rejects it (see the module docstring), or None."""
        code = np.zeros(len(batch), dtype=np.int16)  # 0: kept so far, else 1 + index in names
        names: list[str] = []
        everything = np.arange(len(batch))
        stages = [(p.reasons, True) for p in self._first] + [(lambda b, rows: self._shape(b), False)]
        stages += [(p.reasons, True) for p in self._rest]
        for reasons, on_open_rows in stages:
            open_rows = np.flatnonzero(code == 0)
            if not len(open_rows):
                break
            # The shape checks are cheapest over every allele; the others look only at what is left.
            rows = open_rows if on_open_rows else everything
            for name, rejected in reasons(batch, rows):
                hit = rows[rejected]
                if name not in names:
                    names.append(name)
                code[hit[code[hit] == 0]] = names.index(name) + 1
        return np.array([None, *names], dtype=object)[code]

    def select(self, batch: RecordBatch) -> Selected:
        """The alleles of ``batch`` no reason rejects, and the others with their reasons."""
        reason = self.reasons(batch)
        rejected = reason.astype(bool)
        kept, skipped = np.flatnonzero(~rejected), np.flatnonzero(rejected)
        take = as_indices(kept)
        # The note: the AF the first MinAf read, and the CLNSIG terms when a ClnsigIn selected them.
        min_af = next((p for p in self._rest if isinstance(p, MinAf)), None)
        af = np.full(len(kept), np.nan) if min_af is None else batch.info_float(min_af.field)[kept]
        clnsig = np.empty(len(kept), dtype=object)
        classes = skipped_classes = None
        if any(isinstance(p, ClnsigIn) for p in self._rest):
            clnsig[:] = [batch.info_terms("CLNSIG", i) for i in kept]
            values = np.array(["." if v is None else v for v in batch.info_raw("CLNSIG").to_pylist()],
                              dtype=object)[batch.rec]
            classes, skipped_classes = values[kept], values[skipped]
        ids = batch.column("ID").take(as_indices(batch.rec[kept])).to_pylist()
        return Selected(
            batch.start[kept], batch.ref.take(take).to_pylist(), batch.alt.take(take).to_pylist(),
            np.array([None if i == "." else i for i in ids], dtype=object), af, clnsig,
            batch.start[skipped], reason[skipped], classes, skipped_classes,
        )


# The provider settings that describe its filter: from_settings's parameters.
FILTER_SETTINGS = tuple(inspect.signature(AlleleFilter.from_settings).parameters)
