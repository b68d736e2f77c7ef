"""Which VCF alleles a variant source may use: small predicates composed by :class:`AlleleFilter`.

Every ALT allele of a record is checked in a fixed order and gets the first
reason that rejects it (``None``: usable):

1. record predicates that come first (``PassOnly``: ``not_pass``);
2. the allele's shape: ``symbolic``, ``spanning_deletion``, ``non_acgt``,
   ``too_long`` (over ``max_allele_len``), ``ref_equals_alt``;
3. the other predicates, in the order given (``MinAf``: ``af_missing`` /
   ``af_below_min``; ``ClnsigIn``: ``clnsig_not_selected``; ``EditTypeIn``:
   ``edit_type_not_selected``).

A predicate is a frozen dataclass with ``kind`` (what the audit checks it
as), ``first`` (checked once per record, before the alleles' shape, with
``alt`` None), ``info_fields`` (the INFO keys it reads), ``check_header``
and ``check(record, alt index, ref, alt) -> reason | None``.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Protocol, Sequence

import pysam

from ..errors import ConfigError
from ..types import EDIT_TYPES, MAX_ALLELE_BP, VariantNote, edit_type, is_acgt

class AllelePredicate(Protocol):
    kind: ClassVar[str]
    first: ClassVar[bool]

    def info_fields(self) -> tuple[str, ...]: ...

    def check_header(self, header: pysam.VariantHeader, path: str, key: str) -> None: ...

    def check(self, rec: pysam.VariantRecord, index: int, ref: str, alt: str | None) -> str | None: ...


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _require_info(header: pysam.VariantHeader, name: str, path: str, key: str) -> None:
    if name not in header.info:
        raise ConfigError(
            f"{key}={name!r}: INFO field not declared in {path} (declared: {', '.join(list(header.info)[:12])})"
        )


@dataclass(frozen=True)
class PassOnly:
    """Records whose FILTER is PASS or unset (``.``)."""

    kind: ClassVar[str] = "pass_only"
    first: ClassVar[bool] = True

    def info_fields(self) -> tuple[str, ...]:
        return ()

    def check_header(self, header, path, key) -> None:
        return None

    def check(self, rec, index, ref, alt) -> str | None:
        filters = rec.filter.keys()
        return "not_pass" if filters and filters != ["PASS"] else None


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
        _require_info(header, self.field, path, f"{key}.af_field")

    def check(self, rec, index, ref, alt) -> str | None:
        values = rec.info.get(self.field)
        if isinstance(values, tuple):
            value = values[index] if index < len(values) else None
        else:
            value = values if index == 0 else None
        if value is None:
            return "af_missing"
        return "af_below_min" if value < self.min else None


@dataclass(frozen=True)
class ClnsigIn:
    """Records with any ``|``-separated INFO ``CLNSIG`` term in ``terms``."""

    terms: frozenset[str] = frozenset()
    kind: ClassVar[str] = "clnsig"
    first: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", frozenset(self.terms))

    def info_fields(self) -> tuple[str, ...]:
        return ("CLNSIG",)

    def check_header(self, header, path, key) -> None:
        _require_info(header, "CLNSIG", path, f"{key}.clnsig")

    def check(self, rec, index, ref, alt) -> str | None:
        raw = _as_tuple(rec.info.get("CLNSIG"))
        terms = {t for v in raw if v for t in str(v).split("|")}
        return None if terms & self.terms else "clnsig_not_selected"


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

    def check(self, rec, index, ref, alt) -> str | None:
        return None if edit_type(ref, alt) in self.types else "edit_type_not_selected"


def spec_of(predicate: AllelePredicate) -> dict:
    """A predicate as plain data for the audit and the manifest: ``{"kind": ..., fields ...}``."""
    return {"kind": predicate.kind,
            **{k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(predicate).items()}}


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
        pass_only: bool = True, max_allele_len: int = MAX_ALLELE_BP, edit_types: Sequence[str] | None = None,
    ) -> "AlleleFilter":
        """The filter a provider's flat settings describe (the keys of ``providers.<name>``)."""
        predicates: list = [PassOnly()] if pass_only else []
        if min_af is not None:
            predicates.append(MinAf(af_field, min_af))
        if clnsig is not None:
            predicates.append(ClnsigIn(frozenset(clnsig)))
        if edit_types is not None:
            predicates.append(EditTypeIn(frozenset(edit_types)))
        return cls(tuple(predicates), max_allele_len)

    def spec(self) -> dict:
        return {"max_allele_len": self.max_allele_len, "predicates": [spec_of(p) for p in self.predicates]}

    def note(self, rec: pysam.VariantRecord, index: int) -> VariantNote:
        """The record's ID, and the AF and CLNSIG terms this filter selected the allele by."""
        af = clnsig = None
        for predicate in self._rest:
            if isinstance(predicate, MinAf) and af is None:
                values = rec.info.get(predicate.field)
                values = values if isinstance(values, tuple) else (values,)
                af = values[index] if index < len(values) else None
            elif isinstance(predicate, ClnsigIn):
                raw = _as_tuple(rec.info.get("CLNSIG"))
                clnsig = tuple(sorted({t for v in raw if v for t in str(v).split("|")}))
        return VariantNote(rec.id, af, clnsig)

    def info_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for p in self.predicates for f in p.info_fields()))

    def check_header(self, header: pysam.VariantHeader, path: str, key: str) -> None:
        for predicate in self.predicates:
            predicate.check_header(header, path, key)

    def alleles(self, rec: pysam.VariantRecord) -> list[tuple[str, str | None, str | None]]:
        """``(ref, alt, reason)`` per ALT allele; ``reason`` None means usable."""
        alleles = rec.alleles  # one call for REF and ALTs: the cheapest pysam accessor
        ref = alleles[0].upper()
        alts = alleles[1:] or (None,)
        for predicate in self._first:
            reason = predicate.check(rec, 0, ref, None)
            if reason is not None:
                return [(ref, alt, reason) for alt in alts]
        # Reasons that hold for the whole record, checked once.
        record_reason = None
        if not is_acgt(ref):
            record_reason = "non_acgt"
        elif len(ref) > self.max_allele_len:
            record_reason = "too_long"
        rest = self._rest
        out = []
        for index, alt in enumerate(alts):
            if alt is None or alt[0] == "<" or "[" in alt or "]" in alt:
                reason = "symbolic"
            elif alt == "*":
                reason = "spanning_deletion"
            elif record_reason is not None:
                reason = record_reason
            else:
                alt = alt.upper()
                reason = None
                if not is_acgt(alt):
                    reason = "non_acgt"
                elif len(alt) > self.max_allele_len:
                    reason = "too_long"
                elif ref == alt:
                    reason = "ref_equals_alt"
                else:
                    for predicate in rest:
                        reason = predicate.check(rec, index, ref, alt)
                        if reason is not None:
                            break
            out.append((ref, alt, reason))
        return out


# The provider settings that describe its filter: from_settings's parameters.
FILTER_SETTINGS = tuple(inspect.signature(AlleleFilter.from_settings).parameters)
