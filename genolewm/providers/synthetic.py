"""Synthetic edit sources: uniform SNVs and truncated-geometric indels drawn from the window itself."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

from ..errors import ConfigError
from ..types import MAX_ALLELE_BP, RelEdit
from .base import SyntheticProvider

BASES = "ACGT"
_OTHER_BASES = {b: tuple(x for x in BASES if x != b) for b in BASES}


@dataclass(frozen=True)
class SyntheticSnv(SyntheticProvider):
    """Uniform SNVs: a uniform position at an ACGT base inside the margins, a uniform other base."""

    kind = "synthetic_snv"
    numbers_per_attempt = 2  # the position, the other base

    def attempt(self, seq: str, lo: int, hi: int, u: Sequence[int], at: int = 0) -> RelEdit | None:
        """The SNV that the numbers ``u[at], u[at + 1]`` make inside ``[lo, hi)`` of ``seq`` (None: an N)."""
        pos = lo + ((u[at] * (hi - lo)) >> 64)
        base = seq[pos]
        if base == "N":
            return None
        return RelEdit.known(pos, base, _OTHER_BASES[base][(u[at + 1] * 3) >> 64])

    def span(self, seq: str, edge_margin: int) -> tuple[int, int] | None:
        lo, hi = edge_margin, len(seq) - edge_margin
        return (lo, hi) if hi > lo else None


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
    """The success probability of the geometric event length."""
    max_event_bp: int = 15
    """The longest event (inserted or deleted bases), at most 15."""
    insertion_fraction: float = 0.5
    """The share of events that are insertions."""
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

    numbers_per_attempt = 4  # the length, insertion or deletion, the position, the inserted bases (2 bits each)

    def attempt(self, seq: str, lo: int, hi: int, u: Sequence[int], at: int = 0) -> RelEdit | None:
        """The indel that the numbers ``u[at : at + 4]`` make inside ``[lo, hi)`` of ``seq`` (None: an N)."""
        k = self.event_length(u[at])
        u_pos = u[at + 2]
        if (u[at + 1] >> 11) * (1.0 / (1 << 53)) < self.insertion_fraction:
            pos = lo + ((u_pos * (hi - lo)) >> 64)
            anchor = seq[pos]
            if anchor == "N":
                return None
            u_bases = u[at + 3]
            return RelEdit.known(pos, anchor, anchor + "".join(BASES[(u_bases >> (2 * i)) & 3] for i in range(k)))
        pos = lo + ((u_pos * (hi - k - lo)) >> 64)
        ref = seq[pos : pos + k + 1]
        if "N" in ref:
            return None
        return RelEdit.known(pos, ref, ref[0])

    def span(self, seq: str, edge_margin: int) -> tuple[int, int] | None:
        lo, hi = edge_margin, len(seq) - edge_margin
        return (lo, hi) if hi - lo >= self.max_event_bp + 1 else None


synthetic_snv_provider = SyntheticSnv()
synthetic_indel_provider = SyntheticIndel()
