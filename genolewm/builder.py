"""Training tuples: a window, the edits of one mix slot, and the edited target.

Randomness: every draw for a window comes from its own generator,
``random.Random(stream_seed(seed, window, requested, serving))`` where the
stream seed is the first 8 bytes (big-endian) of
``sha256("{seed}/{requested}/{serving}/{record_id}/{start_bp}/{window_id}")``.
``requested`` is the mix slot and ``serving`` the source drawing for it (they
differ when a fallback serves). No draw depends on which process, worker or
shard handles the window, or on the windows before it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from random import Random
from typing import Iterator, Mapping, Sequence

from .contigs import ContigNames
from .edits import MAX_ALLELE_BP, PAD_MODES, RelEdit, adjusted_side, apply_edits, check_in_margins
from .errors import ConfigError, EditError, ShortfallError
from .holdout import HoldoutPolicy
from .mix import (
    DEFAULT_EDIT_SOURCE_COUNTS,
    DEFAULT_SOURCE_FALLBACKS,
    EditSourceCount,
    MultiEdit,
    validate_fallbacks,
    validate_mix,
)
from .providers import EditProvider
from .windows import WindowContext


@dataclass(frozen=True, slots=True)
class TrainingTuple:
    """One (window, action, target window) training item.

    ``rel_edits`` are sorted by position and never overlap; ``edit_sources``
    names the source that served each of them. ``edit_source`` is that
    source, or the sources joined by ``+`` when a fallback served part of a
    multi-edit tuple. ``adjusted_side`` is the end of the target that was
    trimmed or extended to keep the window length (None when none was).
    """

    window_id: str
    source_record_id: str
    edit_source: str
    rel_edits: tuple[RelEdit, ...]
    target_window: str
    window_start_bp: int
    window_end_bp: int
    window_index: int = 0
    tuple_index: int = 0
    requested_source: str = ""
    chrom: str | None = None
    edit_sources: tuple[str, ...] = ()
    adjusted_side: str | None = None


def stream_seed(seed: int, window: WindowContext, requested: str, serving: str) -> int:
    key = f"{seed}/{requested}/{serving}/{window.record_id}/{window.start_bp}/{window.window_id}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _overlaps(edit: RelEdit, others: Sequence[RelEdit]) -> bool:
    return any(edit.rel_pos < o.end and o.rel_pos < edit.end for o in others)


def _fill_slot(
    window: WindowContext,
    requested: str,
    count: int,
    providers: Mapping[str, EditProvider],
    fallbacks: Mapping[str, str | None],
    seed: int,
    edge_margin: int,
    holdouts: HoldoutPolicy,
    multi_edit: MultiEdit,
    fallback_counts: Counter | None,
) -> list[list[tuple[str, RelEdit]]]:
    """The edits of each of the slot's ``count`` tuples, each edit with the source that served it.

    Edits are distinct within the slot and never overlap within a tuple.
    """
    held_out = (lambda e: holdouts.excludes_edit(window, e)) if holdouts.edit_keys else (lambda e: False)
    sizes = (
        multi_edit.sizes(Random(stream_seed(seed, window, requested, "edits-per-tuple")), count)
        if multi_edit.fraction else [1] * count
    )
    rngs: dict[str, Random] = {}
    used: set[RelEdit] = set()
    out = []
    for size in sizes:
        edits: list[RelEdit] = []
        served: list[tuple[str, RelEdit]] = []
        serving: str | None = requested
        while len(edits) < size:
            if serving is None:
                got_total = sum(len(t) for t in out) + len(edits)
                raise ShortfallError(
                    f"{window.label}: source {requested!r} gave {got_total} of {sum(sizes)} edits and has no "
                    f"fallback; add fallback.{requested}=<source> or use windows with enough variants"
                )
            provider = providers[serving]
            accepted = 0
            if window.placed or not provider.placed:
                if serving not in rngs:
                    rngs[serving] = Random(stream_seed(seed, window, requested, serving))
                got = provider(
                    window, rngs[serving], size - len(edits), edge_margin=edge_margin,
                    excluded=lambda e: e in used or held_out(e) or _overlaps(e, edits),
                )
                for edit in got:
                    check_in_margins(edit, len(window.sequence), edge_margin, f"{window.label}, source {serving}")
                    if held_out(edit):
                        raise EditError(f"{window.label}: provider {serving!r} returned held-out edit {edit}")
                    if len(edits) == size or edit in used or _overlaps(edit, edits):
                        continue
                    edits.append(edit)
                    used.add(edit)
                    served.append((serving, edit))
                    accepted += 1
            if serving != requested and fallback_counts is not None and accepted:
                fallback_counts[f"{requested}->{serving}"] += accepted
            if not accepted:
                serving = fallbacks.get(serving)
        out.append(sorted(served, key=lambda se: se[1].rel_pos))
    return out


def build_training_tuples(
    window: WindowContext,
    providers: Mapping[str, EditProvider],
    *,
    seed: int,
    mix: Sequence[EditSourceCount] = DEFAULT_EDIT_SOURCE_COUNTS,
    holdouts: HoldoutPolicy | None = None,
    fallback_sources: Mapping[str, str | None] | None = DEFAULT_SOURCE_FALLBACKS,
    preserve_length: bool = True,
    pad: str = "flank",
    edge_margin: int = 64,
    multi_edit: MultiEdit = MultiEdit(),
    fallback_counts: Counter | None = None,
) -> tuple[TrainingTuple, ...]:
    """Build one window's tuples: ``count`` tuples per mix slot, in mix order.

    A tuple carries one edit, or with ``multi_edit`` sometimes several that
    are applied together. A held-out window yields nothing. A source that
    comes up short is topped up from its configured fallback (and that
    one's, in turn); with no fallback left the shortfall is an error, so
    missing gnomAD data never silently turns the stream synthetic.
    ``fallback_counts`` (if given) is incremented per ``"requested->serving"``
    edit. ``pad="N"`` fills a shortened target with N instead of the real
    flanking bases.
    """
    holdouts = holdouts or HoldoutPolicy()
    fallbacks = dict(fallback_sources or {})
    if holdouts.excludes_window(window):
        return ()
    left, right = (window.left_flank, window.right_flank) if pad == "flank" else ("", "")
    n = len(window.sequence)
    tuples = []
    for slot in mix:
        if slot.count == 0:
            continue
        per_tuple = _fill_slot(
            window, slot.source, slot.count, providers, fallbacks, seed, edge_margin, holdouts, multi_edit,
            fallback_counts,
        )
        for served in per_tuple:
            sources = tuple(src for src, _ in served)
            edits = tuple(edit for _, edit in served)
            target = apply_edits(
                window.sequence, edits, left_flank=left, right_flank=right, preserve_length=preserve_length,
                where=window.label,
            )
            tuples.append(
                TrainingTuple(
                    window_id=window.window_id, source_record_id=window.record_id,
                    edit_source="+".join(sorted(set(sources))), rel_edits=edits, target_window=target,
                    window_start_bp=window.start_bp, window_end_bp=window.end_bp,
                    window_index=window.window_index, tuple_index=len(tuples), requested_source=slot.source,
                    chrom=window.chrom, edit_sources=sources,
                    adjusted_side=adjusted_side(n, edits) if preserve_length else None,
                )
            )
    return tuple(tuples)


@dataclass
class BuildStats:
    kept: int = 0
    excluded_by_holdout: int = 0
    fallbacks: Counter = field(default_factory=Counter)


SPLITS = ("train", "val")


@dataclass
class TupleBuilder:
    """Windows, providers, mix, fallbacks and holdouts, checked together once.

    ``windows`` is a :class:`~genolewm.windows.ReferenceWindows` or
    :class:`~genolewm.windows.CorpusWindows` (or anything with their plan
    interface: ``plan_size``, ``locate``, ``window_at``, ``iter_windows``,
    ``contigs``, ``window_bp``, ``stats``).

    ``iter_windows`` yields ``(window, tuples)`` for the windows of ``split``:
    ``train``, the windows the holdout keeps, with held-out variant keys never
    emitted; or ``val``, the complement: the windows the holdout removes
    (chromosomes, intervals, record ids), with the same mix and no edit-key
    exclusion, so held-out variants can be evaluated there.
    """

    windows: object
    providers: Mapping[str, EditProvider]
    seed: int = 0
    mix: Sequence[EditSourceCount] = DEFAULT_EDIT_SOURCE_COUNTS
    fallbacks: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_SOURCE_FALLBACKS))
    holdouts: HoldoutPolicy = field(default_factory=HoldoutPolicy)
    preserve_length: bool = True
    pad: str = "flank"
    edge_margin: int = 64
    multi_edit: MultiEdit = field(default_factory=MultiEdit)
    split: str = "train"
    stats: BuildStats = field(default_factory=BuildStats, init=False)

    def __post_init__(self) -> None:
        self.providers = dict(self.providers)
        self.mix = tuple(self.mix)
        self.fallbacks = dict(self.fallbacks)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed={self.seed!r}: must be an integer")
        if self.edge_margin < 0:
            raise ConfigError(f"edge_margin={self.edge_margin}: must be >= 0")
        if self.split not in SPLITS:
            raise ConfigError(f"split={self.split!r}: allowed values are {', '.join(SPLITS)}")
        if self.pad not in PAD_MODES:
            raise ConfigError(f"target.pad={self.pad!r}: allowed values are {', '.join(PAD_MODES)}")
        flank_bp = getattr(self.windows, "flank_bp", None)
        needed = self.multi_edit.max_edits * (MAX_ALLELE_BP - 1)
        if flank_bp is not None and self.pad == "flank" and self.preserve_length and flank_bp < needed:
            raise ConfigError(
                f"windows.flank_bp={flank_bp}: tuples of up to {self.multi_edit.max_edits} edits can delete "
                f"{needed} bases, so targets need flank_bp >= {needed}"
            )
        window_bp = getattr(self.windows, "window_bp", None)
        if window_bp is not None and window_bp <= 2 * self.edge_margin:
            raise ConfigError(
                f"windows.window_bp={window_bp}: must exceed twice edge_margin ({2 * self.edge_margin}); "
                "lengthen the window or lower edge_margin"
            )
        validate_mix(self.mix, self.providers)
        validate_fallbacks(self.fallbacks, self.providers)
        if self.windows.plan_size() == 0:
            raise ConfigError(
                f"windows: no sequence is long enough for one window of window_bp={self.windows.window_bp} "
                f"with margin_bp={self.windows.margin_bp} at both ends; shorten the window or add sequences"
            )
        self._check_contigs()
        if self.split == "val" and not self.holdouts.removes_windows:
            raise ConfigError(
                "split=val: the holdout removes no windows, so the validation split would be empty; "
                "choose a holdout with chroms, a BED file or record ids"
            )
        # Validation windows are held out by definition; their edits may be held-out variants.
        self._edit_holdouts = self.holdouts if self.split == "train" else HoldoutPolicy()

    def _check_contigs(self) -> None:
        """Placed inputs must share contigs with the reference; holdouts take the reference's spelling."""
        reference = getattr(self.windows, "contigs", None) or ContigNames(())
        others = []
        for name, provider in self.providers.items():
            contigs = getattr(provider, "contigs", None)
            if not contigs:
                continue
            others.append(contigs)
            if reference and not any(c in contigs for c in reference.names):
                raise ConfigError(
                    f"providers.{name}: no contig of {getattr(provider, 'path', name)} ({contigs.preview(5)}) "
                    f"matches the reference ({reference.preview(5)}); rename contigs so both agree"
                )
        self.holdouts = self.holdouts.in_reference_names(reference, others)

    @property
    def variants_skipped(self) -> Counter:
        out: Counter = Counter()
        for name, provider in self.providers.items():
            for reason, n in getattr(provider, "skipped", {}).items():
                out[f"{name}:{reason}"] += n
        return out

    def tuples_for(self, window: WindowContext) -> tuple[TrainingTuple, ...]:
        return build_training_tuples(
            window, self.providers, seed=self.seed, mix=self.mix, holdouts=self._edit_holdouts,
            fallback_sources=self.fallbacks, preserve_length=self.preserve_length, pad=self.pad,
            edge_margin=self.edge_margin, multi_edit=self.multi_edit, fallback_counts=self.stats.fallbacks,
        )

    def in_split(self, window: WindowContext) -> bool:
        """Whether ``window`` belongs to this builder's split."""
        return self.holdouts.excludes_window(window) != (self.split == "train")

    def iter_windows(self, select=None, **plan_range) -> Iterator[tuple[WindowContext, tuple[TrainingTuple, ...]]]:
        """``(window, tuples)`` for the windows of the split (``select``/``start``/``stop`` narrow the plan)."""
        for window in self.windows.iter_windows(select, **plan_range):
            if not self.in_split(window):
                self.stats.excluded_by_holdout += 1
                continue
            self.stats.kept += 1
            yield window, self.tuples_for(window)

    def _counts(self) -> tuple:
        stats = self.windows.stats
        return (stats.seen, stats.skipped_n, self.stats.excluded_by_holdout, Counter(self.stats.fallbacks),
                self.variants_skipped)

    def _block(self, pairs: Iterator[tuple[WindowContext, tuple[TrainingTuple, ...]]]) -> "BlockResult":
        """Drain ``pairs`` into a :class:`BlockResult` holding the counts they added."""
        before = self._counts()
        windows, tuples = [], []
        for window, window_tuples in pairs:
            windows.append(window)
            tuples.extend(window_tuples)
        after = self._counts()
        return BlockResult(
            windows=windows, tuples=tuples, kept=len(windows), seen=after[0] - before[0], skipped_n=after[1] - before[1],
            excluded_by_holdout=after[2] - before[2], fallbacks=after[3] - before[3],
            variants_skipped=after[4] - before[4],
        )

    def plan_blocks(self, windows_per_block: int) -> list[tuple[int, int]]:
        """The window plan cut into plan-index ranges of ``windows_per_block`` windows."""
        size = self.windows.plan_size()
        return [(a, min(a + windows_per_block, size)) for a in range(0, size, windows_per_block)]

    def _count_floor(self, start: int) -> tuple[str, int] | None:
        """Where the VCF skip counts of a block starting at plan index ``start`` begin.

        Records inside the last in-split window before the block (on the same
        chromosome, overlapping the block's first window) belong to the
        block before; that window's interior end is the floor.
        """
        if start == 0 or not self.windows.contigs:
            return None  # unplaced windows have no variants to count
        chrom, first = self.windows.locate(start)
        lo = first + self.edge_margin
        for index in range(start - 1, -1, -1):
            other, begin = self.windows.locate(index)
            hi = begin + self.windows.window_bp - self.edge_margin
            if other != chrom or hi <= lo:
                return None
            window = self.windows.window_at(index)
            if window is not None and self.in_split(window):
                return chrom, hi
        return None

    def run_block(self, start: int, stop: int) -> "BlockResult":
        """Build the windows with plan index in ``[start, stop)``, wherever earlier blocks ran."""
        floor = self._count_floor(start)
        for provider in self.providers.values():
            if hasattr(provider, "count_floor"):
                provider.count_floor = floor
        return self._block(self.iter_windows(start=start, stop=stop))

    def iter_blocks(self, windows_per_block: int) -> Iterator["BlockResult"]:
        """The whole split, ``windows_per_block`` planned windows at a time, in order."""
        for start, stop in self.plan_blocks(windows_per_block):
            yield self.run_block(start, stop)


@dataclass
class BlockResult:
    """The windows and tuples of one block of the window plan, and the counts it added."""

    windows: list[WindowContext]
    tuples: list[TrainingTuple]
    kept: int = 0
    seen: int = 0
    skipped_n: int = 0
    excluded_by_holdout: int = 0
    fallbacks: Counter = field(default_factory=Counter)
    variants_skipped: Counter = field(default_factory=Counter)
