"""The per-window mix of edit sources and the fallbacks between sources."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Iterable, Mapping, Sequence

from .errors import ConfigError

SOURCE_GNOMAD_COMMON = "gnomad_common"
SOURCE_SYNTHETIC_SNV = "synthetic_snv"
SOURCE_SYNTHETIC_INDEL = "synthetic_indel"
SOURCE_CLINVAR = "clinvar"


@dataclass(frozen=True, slots=True)
class EditSourceCount:
    """Number of tuples to draw from one source per window."""

    source: str
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ConfigError(f"mix.counts.{self.source}={self.count!r}: must be an integer >= 0")


@dataclass(frozen=True)
class MultiEdit:
    """How often a tuple carries several edits applied together.

    Each tuple independently has ``1`` edit, or with probability
    ``fraction`` a number drawn uniformly from ``[2, max_edits]``.
    """

    fraction: float = 0.0
    max_edits: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ConfigError(f"mix.multi_edit.fraction={self.fraction}: must be in [0, 1]")
        if not isinstance(self.max_edits, int) or self.max_edits < 1:
            raise ConfigError(f"mix.multi_edit.max_edits={self.max_edits!r}: must be an integer >= 1")
        if self.fraction > 0 and self.max_edits < 2:
            raise ConfigError(
                f"mix.multi_edit.max_edits={self.max_edits}: must be >= 2 when mix.multi_edit.fraction > 0"
            )

    def sizes(self, rng: Random, count: int) -> list[int]:
        """The number of edits of each of ``count`` tuples."""
        return [rng.randint(2, self.max_edits) if rng.random() < self.fraction else 1 for _ in range(count)]


DEFAULT_EDIT_SOURCE_COUNTS: tuple[EditSourceCount, ...] = (
    EditSourceCount(SOURCE_GNOMAD_COMMON, 3),
    EditSourceCount(SOURCE_SYNTHETIC_SNV, 3),
    EditSourceCount(SOURCE_SYNTHETIC_INDEL, 1),
    EditSourceCount(SOURCE_CLINVAR, 1),
)

DEFAULT_SOURCE_FALLBACKS: dict[str, str] = {
    SOURCE_CLINVAR: SOURCE_SYNTHETIC_SNV,
    SOURCE_GNOMAD_COMMON: SOURCE_SYNTHETIC_SNV,
}


def mix_from_counts(counts: Mapping[str, int]) -> tuple[EditSourceCount, ...]:
    """The mix ``{source: count}`` in its configured order."""
    return tuple(EditSourceCount(str(s), c) for s, c in counts.items())


def validate_mix(mix: Sequence[EditSourceCount], providers: Iterable[str]) -> None:
    names = sorted(providers)
    if not mix:
        raise ConfigError("mix.counts: empty; give at least one source with a positive count")
    seen = set()
    for item in mix:
        if item.source in seen:
            raise ConfigError(f"mix.counts.{item.source}: listed twice")
        seen.add(item.source)
        if item.source not in names:
            raise ConfigError(f"mix.counts.{item.source}: no provider of that name (providers: {', '.join(names)})")
    if all(item.count == 0 for item in mix):
        raise ConfigError("mix.counts: every count is 0; at least one source needs a positive count")


def validate_fallbacks(fallbacks: Mapping[str, str | None], providers: Iterable[str]) -> None:
    """Every fallback names known providers and no chain of fallbacks loops."""
    names = sorted(providers)
    for src, dst in fallbacks.items():
        if src not in names:
            raise ConfigError(f"fallback.{src}: no provider of that name (providers: {', '.join(names)})")
        if dst is not None and dst not in names:
            raise ConfigError(f"fallback.{src}={dst}: no provider of that name (providers: {', '.join(names)})")
    for start in fallbacks:
        chain = [start]
        while (nxt := fallbacks.get(chain[-1])) is not None:
            if nxt in chain:
                raise ConfigError(f"fallback: cycle {' -> '.join(chain + [nxt])}; a fallback chain must end")
            chain.append(nxt)
