"""Synthetic edit sources: uniform SNVs and truncated-geometric indels drawn from the window itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from random import Random

from ..errors import ConfigError
from ..types import MAX_ALLELE_BP, Draw, Excluded, RelEdit, WindowContext
from .base import SyntheticProvider, draw_unique, never

BASES = "ACGT"
_OTHER_BASES = {b: tuple(x for x in BASES if x != b) for b in BASES}


@dataclass(frozen=True)
class SyntheticSnv(SyntheticProvider):
    """Uniform SNVs: a uniform position at an ACGT base inside the margins, a uniform other base."""

    kind = "synthetic_snv"

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor=None) -> Draw:
        seq = window.sequence
        lo, hi = edge_margin, len(seq) - edge_margin
        if hi <= lo:
            return Draw([])

        def draw() -> RelEdit | None:
            pos = rng.randrange(lo, hi)
            base = seq[pos]
            if base == "N":
                return None
            return RelEdit(pos, base, rng.choice(_OTHER_BASES[base]))

        return Draw(draw_unique(draw, count, excluded, lambda: seq.count("N", lo, hi) == hi - lo))


@dataclass(frozen=True)
class SyntheticIndel(SyntheticProvider):
    """Insertions or deletions with a truncated-geometric event length.

    ``insertion_fraction`` of events are insertions; the event length is
    geometric with success probability ``p`` truncated to
    [1, ``max_event_bp``]. Alleles are VCF-style, anchored on the base before
    the event, so ``max_event_bp`` 15 keeps ref and alt within 16 bases.
    Inserted bases are uniform; a deletion never spans an N.
    """

    p: float = 0.5
    max_event_bp: int = 15
    insertion_fraction: float = 0.5
    kind = "synthetic_indel"

    def __post_init__(self) -> None:
        if not 0.0 < self.p <= 1.0:
            raise ConfigError(f"providers.synthetic_indel.p={self.p}: must be in (0, 1]")
        if not 1 <= self.max_event_bp <= MAX_ALLELE_BP - 1:
            raise ConfigError(
                f"providers.synthetic_indel.max_event_bp={self.max_event_bp}: must be in [1, {MAX_ALLELE_BP - 1}]"
            )
        if not 0.0 <= self.insertion_fraction <= 1.0:
            raise ConfigError(
                f"providers.synthetic_indel.insertion_fraction={self.insertion_fraction}: must be in [0, 1]"
            )

    def settings(self) -> dict:
        return asdict(self)

    def event_length(self, rng: Random) -> int:
        while True:
            k = 1
            while rng.random() >= self.p:
                k += 1
                if k > self.max_event_bp:
                    break
            if k <= self.max_event_bp:
                return k

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor=None) -> Draw:
        seq = window.sequence
        lo, hi = edge_margin, len(seq) - edge_margin
        if hi - lo < self.max_event_bp + 1:
            return Draw([])

        def draw() -> RelEdit | None:
            k = self.event_length(rng)
            if rng.random() < self.insertion_fraction:
                pos = rng.randrange(lo, hi)
                anchor = seq[pos]
                if anchor == "N":
                    return None
                return RelEdit(pos, anchor, anchor + "".join(rng.choice(BASES) for _ in range(k)))
            pos = rng.randrange(lo, hi - k)
            ref = seq[pos : pos + k + 1]
            if "N" in ref:
                return None
            return RelEdit(pos, ref, ref[0])

        return Draw(draw_unique(draw, count, excluded, lambda: seq.count("N", lo, hi) == hi - lo))


synthetic_snv_provider = SyntheticSnv()
synthetic_indel_provider = SyntheticIndel()
