"""The per-window mix of edit sources and the fallbacks between sources.

`DEFAULT_EDIT_SOURCE_COUNTS` and `DEFAULT_SOURCE_FALLBACKS` are
the data contract's defaults; ``conf/mix/default.yaml`` and
``conf/fallback/default.yaml`` say the same (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Iterable, Iterator, Mapping, Sequence

from .errors import ConfigError
from .types import EditSourceCount

SOURCE_GNOMAD_COMMON = "gnomad_common"
SOURCE_SYNTHETIC_SNV = "synthetic_snv"
SOURCE_SYNTHETIC_INDEL = "synthetic_indel"
SOURCE_CLINVAR = "clinvar"
SOURCE_HAPLOTYPES = "haplotypes"

DEFAULT_EDIT_SOURCE_COUNTS: tuple[EditSourceCount, ...] = (
    EditSourceCount(SOURCE_GNOMAD_COMMON, 3),
    EditSourceCount(SOURCE_SYNTHETIC_SNV, 3),
    EditSourceCount(SOURCE_SYNTHETIC_INDEL, 1),
    EditSourceCount(SOURCE_CLINVAR, 1),
)

DEFAULT_SOURCE_FALLBACKS: dict[str, str] = {
    SOURCE_CLINVAR: SOURCE_SYNTHETIC_SNV,
    SOURCE_GNOMAD_COMMON: SOURCE_SYNTHETIC_SNV,
    # Haplotype actions (providers=with_haplotypes): a haplotype with no allele in the window.
    SOURCE_HAPLOTYPES: SOURCE_SYNTHETIC_SNV,
}


@dataclass(frozen=True)
class MultiEdit:
    """How often a tuple carries several edits applied together.

    Each tuple independently has ``1`` edit, or with probability
    ``fraction`` a number drawn uniformly from ``[2, max_edits]``.
    """

    fraction: float = 0.0
    """The share of tuples that carry several edits."""
    max_edits: int = 1
    """The most edits such a tuple carries (at least 2 when `fraction` > 0)."""

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)) \
                or not 0.0 <= self.fraction <= 1.0:
            raise ConfigError(f"mix.multi_edit.fraction={self.fraction!r}: must be a number in [0, 1]")
        if not isinstance(self.max_edits, int) or isinstance(self.max_edits, bool) or self.max_edits < 1:
            raise ConfigError(f"mix.multi_edit.max_edits={self.max_edits!r}: must be an integer >= 1")
        if self.fraction > 0 and self.max_edits < 2:
            raise ConfigError(
                f"mix.multi_edit.max_edits={self.max_edits}: must be >= 2 when mix.multi_edit.fraction > 0"
            )

    def sizes(self, rng: Random, count: int) -> list[int]:
        """The number of edits of each of ``count`` tuples."""
        return [rng.randint(2, self.max_edits) if rng.random() < self.fraction else 1 for _ in range(count)]


def _as_slots(counts) -> tuple[EditSourceCount, ...]:
    if isinstance(counts, Mapping):
        return tuple(EditSourceCount(str(source), count) for source, count in counts.items())
    slots = tuple(counts)
    for slot in slots:
        if not isinstance(slot, EditSourceCount):
            raise ConfigError(f"mix: {slot!r} is not an EditSourceCount; give EditSourceCount(source, count) entries")
    return slots


@dataclass(frozen=True)
class Mix:
    """Tuples per window from each source, in order, and how many edits each tuple carries.

    ``counts`` is a ``{source: count}`` mapping (its order is the order
    tuples are built in) or a sequence of `EditSourceCount`.
    """

    counts: Sequence[EditSourceCount] | Mapping[str, int] = DEFAULT_EDIT_SOURCE_COUNTS
    """Tuples per window from each source, `{source: count}`, built in this order."""
    multi_edit: MultiEdit = field(default_factory=MultiEdit)
    """How often a tuple carries several edits (`fraction`, `max_edits`)."""

    def __post_init__(self) -> None:
        slots = _as_slots(self.counts)
        multi = self.multi_edit
        if isinstance(multi, Mapping):
            multi = MultiEdit(**multi)
        elif not isinstance(multi, MultiEdit):
            raise ConfigError(f"mix.multi_edit={multi!r}: give fraction and max_edits")
        object.__setattr__(self, "counts", slots)
        object.__setattr__(self, "multi_edit", multi)
        if not slots:
            raise ConfigError("mix.counts: empty; give at least one source with a positive count")
        seen: set[str] = set()
        for slot in slots:
            if slot.source in seen:
                raise ConfigError(f"mix.counts.{slot.source}: listed twice")
            seen.add(slot.source)
        if all(slot.count == 0 for slot in slots):
            raise ConfigError("mix.counts: every count is 0; at least one source needs a positive count")

    def __iter__(self) -> Iterator[EditSourceCount]:
        return iter(self.counts)

    @property
    def per_window(self) -> dict[str, int]:
        """``{source: tuples per window}`` for the sources with a positive count."""
        return {slot.source: slot.count for slot in self.counts if slot.count}

    def check_sources(self, providers: Iterable[str]) -> None:
        names = sorted(providers)
        for slot in self.counts:
            if slot.source not in names:
                raise ConfigError(
                    f"mix.counts.{slot.source}: no provider of that name (providers: {', '.join(names)})"
                )

    def to_dict(self) -> dict:
        return {"counts": [[s.source, s.count] for s in self.counts],
                "multi_edit": {"fraction": self.multi_edit.fraction, "max_edits": self.multi_edit.max_edits}}


class Fallbacks(Mapping[str, "str | None"]):
    """Which source tops up a source that runs short in a window: ``Fallbacks(gnomad_common="synthetic_snv")``.

    A source with no entry (or None) has no fallback: its shortfall is an error.
    """

    def __init__(self, sources: Mapping[str, str | None] | None = None, /, **more: str | None) -> None:
        merged = {**dict(sources or {}), **more}
        for src, dst in merged.items():
            if dst is not None and (not isinstance(dst, str) or not dst):
                raise ConfigError(f"fallback.{src}={dst!r}: must be a provider name or null")
        self._sources = {str(src): dst for src, dst in merged.items()}
        for start in self._sources:
            chain = [start]
            while (nxt := self._sources.get(chain[-1])) is not None:
                if nxt in chain:
                    raise ConfigError(f"fallback: cycle {' -> '.join(chain + [nxt])}; a fallback chain must end")
                chain.append(nxt)

    def __getitem__(self, source: str) -> str | None:
        return self._sources[source]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"Fallbacks({self._sources!r})"

    def check_sources(self, providers: Iterable[str]) -> None:
        """Every fallback names known providers."""
        names = sorted(providers)
        for src, dst in self._sources.items():
            if src not in names:
                raise ConfigError(f"fallback.{src}: no provider of that name (providers: {', '.join(names)})")
            if dst is not None and dst not in names:
                raise ConfigError(f"fallback.{src}={dst}: no provider of that name (providers: {', '.join(names)})")


def as_fallbacks(value: Mapping[str, str | None] | None) -> Fallbacks:
    if isinstance(value, Fallbacks):
        return value
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"fallback_sources={value!r}: give a mapping {{source: fallback source}}")
    return Fallbacks(value or {})


def as_mix(value, multi_edit: MultiEdit | None = None) -> Mix:
    """``value`` as a `Mix`: a Mix, a ``{source: count}`` mapping or EditSourceCount entries."""
    if isinstance(value, Mix):
        return value if multi_edit is None else Mix(value.counts, multi_edit)
    return Mix(value, multi_edit or MultiEdit())
