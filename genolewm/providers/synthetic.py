"""Synthetic edit sources: uniform SNVs and truncated-geometric indels drawn from the window itself."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from random import Random

from ..errors import ConfigError
from ..streams import below
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

        def draw() -> RelEdit | None:  # two numbers an attempt: the position, the other base
            pos, other = lo + below(rng, hi - lo), below(rng, 3)
            base = seq[pos]
            if base == "N":
                return None
            return RelEdit(pos, base, _OTHER_BASES[base][other])

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

    def event_length(self, u: int) -> int:
        """The event length for the 64-bit number ``u``: the truncated geometric distribution by inversion,
        ``ceil(log(1 - v * (1 - q**m)) / log(q))`` with ``v`` in (0, 1], ``q = 1 - p``, ``m = max_event_bp``."""
        q = 1.0 - self.p
        if q <= 0.0:
            return 1
        v = ((u >> 11) + 1) * (1.0 / (1 << 53))
        k = math.ceil(math.log1p(-v * (1.0 - q ** self.max_event_bp)) / math.log(q))
        return min(max(k, 1), self.max_event_bp)

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor=None) -> Draw:
        seq = window.sequence
        lo, hi = edge_margin, len(seq) - edge_margin
        if hi - lo < self.max_event_bp + 1:
            return Draw([])

        def draw() -> RelEdit | None:
            # Four numbers an attempt: the length, insertion or deletion, the position, the inserted bases
            # (two bits each).
            k = self.event_length(rng.getrandbits(64))
            insertion = (rng.getrandbits(64) >> 11) * (1.0 / (1 << 53)) < self.insertion_fraction
            u_pos, u_bases = rng.getrandbits(64), rng.getrandbits(64)
            if insertion:
                pos = lo + ((u_pos * (hi - lo)) >> 64)
                anchor = seq[pos]
                if anchor == "N":
                    return None
                return RelEdit(pos, anchor, anchor + "".join(BASES[(u_bases >> (2 * i)) & 3] for i in range(k)))
            pos = lo + ((u_pos * (hi - k - lo)) >> 64)
            ref = seq[pos : pos + k + 1]
            if "N" in ref:
                return None
            return RelEdit(pos, ref, ref[0])

        return Draw(draw_unique(draw, count, excluded, lambda: seq.count("N", lo, hi) == hi - lo))


synthetic_snv_provider = SyntheticSnv()
synthetic_indel_provider = SyntheticIndel()
