"""Training tuples: a window, the edits of one mix slot, and the edited target.

Randomness: with ``seed`` every draw for a window comes from its own
counter-based stream (`genolewm.streams`), keyed by
``stream_seed(seed, window, requested, serving)``: the first 8 bytes
(big-endian) of
``sha256("{seed}/{requested}/{serving}/{record_id}/{start_bp}/{window_id}")``.
``requested`` is the mix slot and ``serving`` the source drawing for it (they
differ when a fallback serves); the number of edits per tuple comes from the
stream with ``serving`` = ``edits-per-tuple``. A slot of single-edit tuples
asks its source for all of its edits at once, and the fallback for what is
missing; for a block's windows, that first draw is settled together where
the source can (`EditProvider.draw_block`), from the same streams, so
the tuples are the same. No draw depends on which process, worker or shard
handles the window, or on the windows before it.

With the seed's ``rng`` instead, the window's seed is ``rng.getrandbits(64)``:
reproducible for the same generator state and window order, but not across
worker or shard splits. Only ``seed`` is worker-invariant.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import partial
from operator import is_
from random import Random
from typing import Callable, Iterator, Mapping, Sequence

from .contigs import ContigNames
from .edits import MAX_ALLELE_BP, PAD_MODES, check_in_margins, check_ref
from .errors import ConfigError, ContractError, EditError, ShortfallError
from .holdout import HoldoutPolicy
from .mix import DEFAULT_EDIT_SOURCE_COUNTS, DEFAULT_SOURCE_FALLBACKS, Fallbacks, Mix, as_fallbacks, as_mix
from .providers import FunctionProvider
from .streams import Stream
from .tokens import Vocabulary
from .tuples import TupleBlock
from .types import (
    EditProvider,
    Holdout,
    RelEdit,
    TrainingTuple,
    WindowContext,
    WindowSource,
)

SPLITS = ("train", "val")
# Windows drawn together when iterating window by window: sources prepare them at once.
WINDOWS_AT_ONCE = 256


def stream_seed(seed: int, window: WindowContext, requested: str, serving: str) -> int:
    key = f"{seed}/{requested}/{serving}/{window.record_id}/{window.start_bp}/{window.window_id}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class TupleSettings:
    """How one window's tuples are made: the seed's arguments plus the target padding and edge margin.

    ``mix`` takes a `Mix` (with its multi-edit rate), a
    ``{source: count}`` mapping or `EditSourceCount` entries;
    ``fallback_sources`` a ``{source: fallback}`` mapping.
    """

    mix: Mix = field(default_factory=Mix)
    """Tuples per window from each source (see `Mix`)."""
    fallback_sources: Fallbacks = field(default_factory=lambda: Fallbacks(DEFAULT_SOURCE_FALLBACKS))
    """Which source tops up a source that runs short (see `Fallbacks`)."""
    holdouts: Holdout = field(default_factory=HoldoutPolicy)
    """What never reaches a trainer (see `HoldoutPolicy`)."""
    preserve_length: bool = True
    """Bring targets back to the window length, on the side away from the edits."""
    pad: str = "flank"
    """What refills a shortened target: `flank` (the real bases beyond the window) or `N`."""
    edge_margin: int = 64
    """Edits keep this many bases from both window ends."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mix", as_mix(self.mix))
        object.__setattr__(self, "fallback_sources", as_fallbacks(self.fallback_sources))
        if self.holdouts is None:
            object.__setattr__(self, "holdouts", HoldoutPolicy())
        if not isinstance(self.edge_margin, int) or isinstance(self.edge_margin, bool) or self.edge_margin < 0:
            raise ConfigError(f"edge_margin={self.edge_margin!r}: must be an integer >= 0")
        if self.pad not in PAD_MODES:
            raise ConfigError(f"target.pad={self.pad!r}: allowed values are {', '.join(PAD_MODES)}")
        if not isinstance(self.preserve_length, bool):
            raise ConfigError(f"target.preserve_length={self.preserve_length!r}: must be true or false")

    def sources(self) -> list[str]:
        """The sources the mix can draw from: each slot's, and the fallbacks its chain reaches, in mix order."""
        out: dict[str, None] = {}
        for slot in self.mix:
            if slot.count == 0:
                continue
            source = slot.source
            while source is not None and source not in out:
                out[source] = None
                source = self.fallback_sources.get(source)
        return list(out)

    def check_providers(self, providers: Mapping[str, EditProvider], every_fallback: bool = True) -> None:
        """Every mix source has a provider, and so does the fallback of each provider (or, with
        ``every_fallback`` False, of each source the mix can reach, as the seed's defaults name sources a
        caller may not use). A fallback for a source no provider serves is left alone: the default
        fallbacks name sources only some provider sets have (``haplotypes``)."""
        self.mix.check_sources(providers)
        keep = set(self.sources()) if not every_fallback else set(providers)
        Fallbacks({k: v for k, v in self.fallback_sources.items() if k in keep}).check_sources(providers)


def as_providers(providers) -> dict[str, EditProvider]:
    """``providers`` as named `EditProvider` objects; seed-style functions are wrapped."""
    if not isinstance(providers, Mapping):
        raise ContractError(f"providers={providers!r}: give a mapping {{source name: provider}}")
    out = {}
    for name, provider in providers.items():
        if isinstance(provider, EditProvider):
            out[str(name)] = provider
        elif callable(provider):
            out[str(name)] = FunctionProvider(str(name), provider)
        else:
            raise ContractError(f"providers.{name}={provider!r}: not an EditProvider or a provider function")
    return out


def _overlaps(edit: RelEdit, others: list[RelEdit]) -> bool:
    # Most tuples hold one edit: no other to overlap, and no generator to make.
    return bool(others) and any(edit.rel_pos < o.end and o.rel_pos < edit.end for o in others)


def _check(window: WindowContext, serving: str, edit: RelEdit, margin: int, held_out: Callable[[RelEdit], bool]
           ) -> None:
    """A drawn edit keeps the draw contract, whoever wrote the provider: a RelEdit inside the margins whose
    REF is the window's, not held out."""

    def where() -> str:
        return f"{window.label}, source {serving}"

    if not isinstance(edit, RelEdit):
        raise ContractError(f"provider {serving!r} returned {edit!r} for {window.label}, not a RelEdit")
    check_in_margins(edit, len(window.sequence), margin, where)
    check_ref(window.sequence, edit, where)
    if held_out(edit):
        raise EditError(f"{window.label}: provider {serving!r} returned held-out edit {edit}")


@dataclass
class _Slot:
    """One mix slot of one window being filled: what it has drawn so far. ``skipped`` and ``classified``
    are the window's counts of the variants its draws skipped and classified, shared by its slots."""

    window: WindowContext
    requested: str
    seed: int
    settings: TupleSettings
    count_floor: tuple[str, int] | None
    skipped: Counter
    classified: Counter
    used: set = field(default_factory=set)
    rngs: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.held_out: Callable[[RelEdit], bool] = partial(self.settings.holdouts.excludes_edit, self.window)

    def rng(self, serving: str) -> Stream:
        if serving not in self.rngs:
            self.rngs[serving] = Stream(stream_seed(self.seed, self.window, self.requested, serving))
        return self.rngs[serving]

    def take(self, provider: EditProvider, serving: str, edits: list[RelEdit], want: int,
             one_tuple: bool = True) -> list[RelEdit]:
        """New edits from ``provider`` for the tuple holding ``edits`` (``one_tuple``: no two overlap), or
        for ``want`` tuples of one edit each: distinct in the slot."""
        window, margin = self.window, self.settings.edge_margin
        if not (window.placed or not provider.placed):
            return []
        used, held_out = self.used, self.held_out
        got = provider.draw(
            window, self.rng(serving), want, edge_margin=margin,
            # Most tuples hold one edit: with none drawn yet there is nothing to overlap.
            excluded=(lambda e: e in used or held_out(e) or _overlaps(e, edits)) if edits
            else (lambda e: e in used or held_out(e)),
            count_floor=self.count_floor,
        )
        _count(serving, got, self.skipped, self.classified)
        taken: list[RelEdit] = []
        notes = got.notes
        for edit in got.edits:
            _check(window, serving, edit, margin, held_out)
            if len(taken) == want or edit in used or _overlaps(edit, edits) or (one_tuple and _overlaps(edit, taken)):
                continue
            taken.append(edit)
            used.add(edit)
            if edit in notes:  # only the edits taken: a later source may draw the same allele unnoted
                self.notes[edit] = notes[edit]
        return taken


def _fill_slot(slot: _Slot, count: int, providers: Mapping[str, EditProvider]
               ) -> list[tuple[tuple[str, ...], tuple[RelEdit, ...]]]:
    """The edits of each of the slot's ``count`` tuples by position, with the source that served each.

    Edits are distinct within the slot and never overlap within a tuple.
    """
    mix, fallbacks = slot.settings.mix, slot.settings.fallback_sources
    sizes = mix.multi_edit.sizes(slot.rng("edits-per-tuple"), count) if mix.multi_edit.fraction else [1] * count
    if all(size == 1 for size in sizes):
        return _fill_single(slot, count, providers)
    out: list[tuple[tuple[str, ...], tuple[RelEdit, ...]]] = []
    for size in sizes:
        sources: list[str] = []
        edits: list[RelEdit] = []
        chain = [slot.requested]
        while len(edits) < size:
            serving = chain[-1]
            taken = slot.take(providers[serving], serving, edits, size - len(edits))
            if taken:
                edits += taken
                sources += [serving] * len(taken)
                continue
            nxt = fallbacks.get(serving)
            if nxt is None:
                got = sum(len(e) for _, e in out) + len(edits)
                raise ShortfallError(_shortfall(slot, chain, got, sum(sizes)))
            chain.append(nxt)
        if len(edits) > 1:  # by position; sorted() is stable, so equal positions keep their order
            order = sorted(range(len(edits)), key=lambda k: edits[k].rel_pos)
            sources, edits = [sources[k] for k in order], [edits[k] for k in order]
        out.append((tuple(sources), tuple(edits)))
    return out


def _fill_single(slot: _Slot, count: int, providers: Mapping[str, EditProvider]
                 ) -> list[tuple[tuple[str, ...], tuple[RelEdit, ...]]]:
    """`_fill_slot` for ``count`` tuples of one edit each: every edit the slot's source can give in
    one draw, then its fallback's for the rest, and so on down the chain."""
    fallbacks = slot.settings.fallback_sources
    out: list[tuple[tuple[str, ...], tuple[RelEdit, ...]]] = []
    chain = [slot.requested]
    while True:
        serving = chain[-1]
        taken = slot.take(providers[serving], serving, [], count - len(out), one_tuple=False)
        out += [((serving,), (edit,)) for edit in taken]
        if len(out) == count:
            return out
        nxt = fallbacks.get(serving)
        if nxt is None:
            raise ShortfallError(_shortfall(slot, chain, len(out), count))
        chain.append(nxt)


def _fill_whole(slot: _Slot, count: int, providers: Mapping[str, EditProvider], checked: set) -> list[tuple]:
    """`_fill_slot` for a source whose one draw is one whole tuple (a
    `TupleSource`): its ``count`` draws, asked at once, each tuple's sources, edits,
    notes and the draw's carrier. A draw with no edit is a shortfall: the fallback chain
    serves that tuple one edit. ``checked`` holds the ids of the window's edit objects checked already."""
    window, margin, requested = slot.window, slot.settings.edge_margin, slot.requested
    provider = providers[requested]
    out: list[tuple] = []
    draws = provider.draw_tuples(window, slot.rng(requested), count, provider.whole_tuple_edits, edge_margin=margin,
                                 excluded=slot.held_out, count_floor=slot.count_floor) \
        if window.placed or not provider.placed else [None] * count
    for got in draws:
        if got is not None:
            _count(requested, got, slot.skipped, slot.classified)
        if got is not None and got.edits:
            edits = tuple(got.edits)
            _check_whole(window, requested, edits, provider.whole_tuple_edits, margin, slot.held_out, checked)
            notes = got.notes
            if not notes:
                notes = ()
            elif len(notes) == len(edits) and all(map(is_, notes, edits)):  # in the edits' order: no lookups
                notes = tuple(notes.values())
            else:
                notes = tuple(map(notes.get, edits))
            out.append(((requested,) * len(edits), edits, notes, got.carrier))
            continue
        chain = [requested]
        while True:
            serving = slot.settings.fallback_sources.get(chain[-1])
            if serving is None:
                raise ShortfallError(_shortfall(slot, chain, len(out), count))
            chain.append(serving)
            taken = slot.take(providers[serving], serving, [], 1)
            if taken:
                out.append(((serving,), tuple(taken), (slot.notes.get(taken[0]),),
                            None if got is None else got.carrier))
                break
    return out


def _check_whole(window: WindowContext, serving: str, edits: tuple[RelEdit, ...], most: int, margin: int,
                 held_out: Callable[[RelEdit], bool], checked: set) -> None:
    """A whole tuple keeps the draw contract: at most ``most`` edits, each as `_check` wants, sorted
    by position and none overlapping the next. Haplotypes of a window share alleles, and edits are
    immutable: an edit object whose id is in ``checked`` (kept alive by the block) was checked already."""
    if len(edits) > most:
        raise ContractError(f"provider {serving!r} returned {len(edits)} edits for one tuple of {window.label}; "
                            f"it declares at most {most}")
    sequence = window.sequence
    hi = len(sequence) - margin
    end, before = -1, None
    for edit in edits:
        if id(edit) not in checked:
            # What _check asks, inline; _check itself names whatever fails.
            if not (type(edit) is RelEdit and margin <= edit.rel_pos and edit.rel_pos + len(edit.ref) <= hi
                    and sequence.startswith(edit.ref, edit.rel_pos) and not held_out(edit)):
                _check(window, serving, edit, margin, held_out)
            checked.add(id(edit))
        if edit.rel_pos < end:
            raise ContractError(f"provider {serving!r} returned edits {before} and {edit} for one tuple of "
                                f"{window.label}: a tuple's edits are sorted by position and never overlap")
        end, before = edit.rel_pos + len(edit.ref), edit


def _shortfall(slot: _Slot, chain: list[str], got: int, wanted: int) -> str:
    where = f"{slot.window.label}: source {slot.requested!r} gave {got} of {wanted} edits"
    if len(chain) == 1:
        return (f"{where} and has no fallback; add fallback.{slot.requested}=<source> or use windows with "
                "enough variants")
    return (f"{where}; its fallback chain {' -> '.join(chain)} also ran dry; add a fallback that cannot run "
            f"dry (e.g. fallback.{chain[-1]}=synthetic_snv) or use windows with enough variants")


def draw_windows(
    windows: Sequence[WindowContext], providers: Mapping[str, EditProvider], seed: int, settings: TupleSettings,
    into: TupleBlock, count_floor: tuple[str, int] | None = None,
) -> tuple[Counter, Counter]:
    """Draw the tuples of ``windows`` (``count`` per mix slot, in mix order, window by window) into
    ``into``; return the variants the sources skipped (``{"<provider>:<reason>": n}``) and classified
    (``{(provider, CLNSIG value, "selected" | "rejected"): n}``). Held-out windows add nothing.

    Each source the mix can reach is first told all the windows (`EditProvider.prepare`), so a
    VCF source reads and checks its variants for them at once.
    """
    skipped: Counter = Counter()
    classified: Counter = Counter()
    windows = [w for w in windows if not settings.holdouts.excludes_window(w)]
    if not windows:
        return skipped, classified
    for name in settings.sources():
        tally = providers[name].prepare(windows, edge_margin=settings.edge_margin, count_floor=count_floor)
        _count(name, tally, skipped, classified)
    slots = [entry for entry in settings.mix if entry.count]
    # Tuples of one edit: each slot's first draw is settled for all windows at once where the source can.
    settled = {entry.source: providers[entry.source].draw_block(
        windows, [stream_seed(seed, w, entry.source, entry.source) for w in windows], entry.count,
        edge_margin=settings.edge_margin, holdouts=settings.holdouts)
        for entry in slots if providers[entry.source].whole_tuple_edits is None
    } if not settings.mix.multi_edit.fraction else {}
    for k, window in enumerate(windows):
        row = into.add_window(window)
        index = 0
        held_out = partial(settings.holdouts.excludes_edit, window)
        checked: set = set()
        for entry in slots:
            if providers[entry.source].whole_tuple_edits is not None:
                slot = _Slot(window, entry.source, seed, settings, count_floor, skipped, classified)
                for sources, edits, notes, carrier in _fill_whole(slot, entry.count, providers, checked):
                    into.append(row, index, entry.source, sources, edits, notes if any(notes) else (), carrier)
                    index += 1
                continue
            got = settled[entry.source][k] if settled else None
            if got is not None and len(set(got.edits)) == entry.count:
                notes, source = got.notes, (entry.source,)
                for edit in got.edits:
                    _check(window, entry.source, edit, settings.edge_margin, held_out)
                    note = notes.get(edit) if notes else None
                    into.append(row, index, entry.source, source, (edit,), (note,) if note else ())
                    index += 1
                continue
            slot = _Slot(window, entry.source, seed, settings, count_floor, skipped, classified)
            per_tuple = _fill_slot(slot, entry.count, providers)
            notes_of = slot.notes.get
            for sources, edits in per_tuple:
                notes = tuple(map(notes_of, edits)) if slot.notes else ()
                into.append(row, index, entry.source, sources, edits, notes if any(notes) else ())
                index += 1
    return skipped, classified


def _count(serving: str, tally, skipped: Counter, classified: Counter) -> None:
    """Add a source's counts (a `Draw` or `Tally`) to a block's, keyed by the source."""
    if tally.skipped:
        skipped.update({f"{serving}:{reason}": n for reason, n in tally.skipped.items()})
    if tally.classified:
        classified.update({(serving, *key): n for key, n in tally.classified.items()})


def window_tuples(
    window: WindowContext, providers: Mapping[str, EditProvider], seed: int, settings: TupleSettings,
    count_floor: tuple[str, int] | None = None,
) -> tuple[tuple[TrainingTuple, ...], Counter]:
    """One window's tuples (``count`` per mix slot, in mix order) and the variants its draws skipped
    (``{"<provider>:<reason>": n}``)."""
    block = TupleBlock(settings.pad, settings.preserve_length)
    skipped, _ = draw_windows([window], providers, seed, settings, block, count_floor)
    return tuple(block), skipped


def build_training_tuples(
    window: WindowContext,
    providers: Mapping[str, EditProvider],
    *,
    rng: Random | None = None,
    seed: int | None = None,
    mix=DEFAULT_EDIT_SOURCE_COUNTS,
    holdouts: Holdout | None = None,
    fallback_sources: Mapping[str, str | None] | None = DEFAULT_SOURCE_FALLBACKS,
    preserve_length: bool = True,
    edge_margin: int = 64,
) -> tuple[TrainingTuple, ...]:
    """Build one window's tuples: ``count`` tuples per mix slot, in mix order.

    Give ``seed`` (worker-invariant: see the module docstring) or the seed's
    ``rng``. A tuple carries one edit, or with a `Mix`
    whose ``multi_edit`` says so, sometimes several applied together. A
    held-out window yields nothing. A source that comes up short is topped
    up from its configured fallback (and that one's, in turn); with no
    fallback left the shortfall is an error, so missing gnomAD data never
    silently turns the stream synthetic.
    """
    if not isinstance(window, WindowContext):
        raise ContractError(f"window={window!r}: build_training_tuples takes a WindowContext")
    if (rng is None) == (seed is None):
        raise ContractError("build_training_tuples: give exactly one of seed (an int) or rng (a random.Random)")
    if rng is not None and not isinstance(rng, Random):
        raise ContractError(f"rng={rng!r}: must be a random.Random")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ContractError(f"seed={seed!r}: must be an integer")
    providers = as_providers(providers)
    settings = TupleSettings(mix=mix, fallback_sources=fallback_sources, holdouts=holdouts,
                             preserve_length=preserve_length, edge_margin=edge_margin)
    settings.check_providers(providers, every_fallback=False)
    return window_tuples(window, providers, seed if rng is None else rng.getrandbits(64), settings)[0]


@dataclass
class BlockResult:
    """The windows and tuples of one block of the window plan, and its counts."""

    tuples: TupleBlock
    seen: int = 0
    skipped_n: int = 0
    excluded_by_holdout: int = 0
    masked_bases: Counter = field(default_factory=Counter)  # IUPAC code -> bases read as N
    variants_skipped: Counter = field(default_factory=Counter)
    classified: Counter = field(default_factory=Counter)  # (provider, CLNSIG value, selected|rejected) -> alleles
    by_chrom: Counter = field(default_factory=Counter)  # ("<chrom> kept|excluded_by_holdout|skipped_n") -> windows

    @property
    def windows(self) -> list[WindowContext]:
        """The kept windows, in plan order: the rows of `tuples`."""
        return self.tuples.windows

    @property
    def kept(self) -> int:
        return len(self.windows)

    def counts(self) -> dict:
        """What the manifest sums over blocks (the rows themselves stay in the shard files)."""
        return {
            "windows": {"seen": self.seen, "kept": self.kept, "excluded_by_holdout": self.excluded_by_holdout,
                        "skipped_n": self.skipped_n},
            "by_edit_source": Counter(self.tuples.column("edit_source")),
            "by_requested_source": Counter(self.tuples.requested),
            "fallbacks": self.fallbacks, "variants_skipped": self.variants_skipped, "by_chrom": self.by_chrom,
            "masked_bases": self.masked_bases, "classified": self.classified,
        }

    @property
    def fallbacks(self) -> Counter:
        """Edits served by another source than their slot's, as ``requested->serving``."""
        out: Counter = Counter()
        for requested, sources in zip(self.tuples.requested, self.tuples.sources):
            for source in sources:
                if source != requested:
                    out[f"{requested}->{source}"] += 1
        return out


@dataclass
class TupleBuilder:
    """A window source, providers and tuple settings, checked together once.

    ``iter_windows`` yields ``(window, tuples)`` for the windows of ``split``:
    ``train``, the windows the holdout keeps, with held-out variant keys never
    emitted; or ``val``, the complement: the windows the holdout removes
    (chromosomes, intervals, record ids), with the same mix and no edit-key
    exclusion, so held-out variants can be evaluated there.
    """

    windows: WindowSource
    providers: Mapping[str, EditProvider]
    seed: int = 0
    settings: TupleSettings = field(default_factory=TupleSettings)
    split: str = "train"

    def __post_init__(self) -> None:
        if not isinstance(self.windows, WindowSource):
            raise ContractError(f"windows={self.windows!r}: not a WindowSource (see genolewm.types.WindowSource)")
        self.providers = as_providers(self.providers)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed={self.seed!r}: must be an integer")
        if self.split not in SPLITS:
            raise ConfigError(f"split={self.split!r}: allowed values are {', '.join(SPLITS)}")
        self._check_windows()
        self.settings.check_providers(self.providers)
        holdouts = self._holdout_in_reference_names()
        if self.split == "val" and not holdouts.removes_windows:
            raise ConfigError(
                "split=val: the holdout removes no windows, so the validation split would be empty; "
                "choose a holdout with chroms, a BED file or record ids"
            )
        self.holdouts = holdouts
        # Validation windows are held out by definition; their edits may be held-out variants.
        edit_holdouts = holdouts if self.split == "train" else HoldoutPolicy()
        self._tuple_settings = replace(self.settings, holdouts=edit_holdouts)

    def _check_windows(self) -> None:
        windows, settings = self.windows, self.settings
        most = max([settings.mix.multi_edit.max_edits] + [
            self.providers[name].whole_tuple_edits for name in settings.sources()
            if name in self.providers and self.providers[name].whole_tuple_edits])
        needed = most * (MAX_ALLELE_BP - 1)
        if windows.flank_bp is not None and settings.pad == "flank" and settings.preserve_length \
                and windows.flank_bp < needed:
            raise ConfigError(
                f"windows.flank_bp={windows.flank_bp}: tuples of up to {most} edits "
                f"can delete {needed} bases, so targets need flank_bp >= {needed}"
            )
        if windows.window_bp <= 2 * settings.edge_margin:
            raise ConfigError(
                f"windows.window_bp={windows.window_bp}: must exceed twice edge_margin ({2 * settings.edge_margin}); "
                "lengthen the window or lower edge_margin"
            )
        if windows.plan_size() == 0:
            raise ConfigError(
                f"windows: no sequence is long enough for one window of window_bp={windows.window_bp} "
                f"with margin_bp={windows.margin_bp} at both ends; shorten the window or add sequences"
            )

    def _holdout_in_reference_names(self) -> Holdout:
        """Placed inputs must share contigs with the reference; holdouts take the reference's spelling."""
        reference = self.windows.sequence_names
        others = []
        for name, provider in self.providers.items():
            contigs: ContigNames = provider.contigs
            if not contigs:
                continue
            others.append(contigs)
            if reference and not any(c in contigs for c in reference.names):
                where = ", ".join(provider.inputs()) or name
                raise ConfigError(
                    f"providers.{name}: no contig of {where} ({contigs.preview(5)}) "
                    f"matches the reference ({reference.preview(5)}); rename contigs so both agree"
                )
        return self.settings.holdouts.in_reference_names(reference, others, self.windows.records())

    def sequences(self) -> dict:
        """What the inputs hold outside the build: the reference sequences the windows leave out, by kind
        (``windows``), and per VCF source its contigs the reference lacks (``not_in_reference``) and those
        it has but the windows do not tile (``not_tiled``), with their records."""
        reference, tiled = self.windows.sequence_names, ContigNames(self.windows.records())
        absent: dict[str, dict] = {}
        untiled: dict[str, dict] = {}
        for name, provider in sorted(self.providers.items()):
            if not (provider.contigs and reference):
                continue
            outside = provider.contigs.absent_from(tiled)
            absent[name] = {c: n for c, n in outside.items() if c not in reference}
            untiled[name] = {c: n for c, n in outside.items() if c in reference}
        return {"windows": self.windows.sequences(),
                "not_in_reference": {name: contigs for name, contigs in absent.items() if contigs},
                "not_tiled": {name: contigs for name, contigs in untiled.items() if contigs}}

    def inputs(self) -> list[str]:
        """Every file the build reads: the windows', each provider's and the holdout's."""
        paths = list(self.windows.inputs())
        for provider in self.providers.values():
            paths += provider.inputs()
        paths += self.holdouts.inputs()
        return list(dict.fromkeys(paths))

    def identity(self) -> dict:
        """Everything that changes a tuple, key by key, but the inputs' contents (the manifest adds those).

        Not what does not: workers, shards, output, input paths. The holdout
        counts whole, also for split=val, whose edits it does not filter.
        """
        settings = self.settings
        return {
            "seed": self.seed, "split": self.split, "windows": self.windows.identity(),
            "providers": {name: p.identity() for name, p in sorted(self.providers.items())},
            "mix": settings.mix.to_dict(), "fallbacks": dict(settings.fallback_sources),
            "holdout": self.holdouts.identity(), "edge_margin": settings.edge_margin,
            "target": {"preserve_length": settings.preserve_length, "pad": settings.pad},
        }

    def vocabulary(self) -> Vocabulary:
        """The ids of source and contig names in tensor batches (``requested_source``, ``edit_source``, ``chrom``)."""
        return Vocabulary(tuple(sorted(self.providers)), tuple(self.windows.records()) if self.windows.placed else ())

    def in_split(self, window: WindowContext) -> bool:
        """Whether ``window`` belongs to this builder's split."""
        return self.holdouts.excludes_window(window) != (self.split == "train")

    def iter_windows(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[WindowContext, tuple[TrainingTuple, ...]]]:
        """``(window, tuples)`` for the windows of the split with plan index in ``[start, stop)``."""
        size = self.windows.plan_size()
        stop = size if stop is None else min(stop, size)
        for a in range(start, stop, WINDOWS_AT_ONCE):
            tuples = self.run_block(a, min(a + WINDOWS_AT_ONCE, stop)).tuples
            rows: list[list[TrainingTuple]] = [[] for _ in tuples.windows]
            for row, item in zip(tuples.rows, tuples):
                rows[row].append(item)
            yield from zip(tuples.windows, map(tuple, rows))

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
        if start == 0 or not self.windows.placed:
            return None  # unplaced windows have no variants to count
        margin, window_bp = self.settings.edge_margin, self.windows.window_bp
        chrom, first = self.windows.locate(start)
        lo = first + margin
        for index in range(start - 1, -1, -1):
            other, begin = self.windows.locate(index)
            hi = begin + window_bp - margin
            if other != chrom or hi <= lo:
                return None
            window = self.windows.window_at(index)
            if window is not None and self.in_split(window):
                return chrom, hi
        return None

    def run_block(self, start: int, stop: int) -> BlockResult:
        """Build the windows with plan index in ``[start, stop)``, wherever earlier blocks ran."""
        floor = self._count_floor(start)
        settings = self._tuple_settings
        block = BlockResult(TupleBlock(settings.pad, settings.preserve_length))
        placed = self.windows.placed
        kept = []
        for index, window, codes in self.windows.iter_plan(start, stop):
            block.seen += 1
            if codes:
                block.masked_bases.update(codes)
            # Unplaced windows (corpus records) are counted together.
            where = (window.chrom if window is not None else self.windows.locate(index)[0]) if placed else "unplaced"
            if window is None:
                block.skipped_n += 1
                block.by_chrom[(where, "skipped_n")] += 1
            elif not self.in_split(window):
                block.excluded_by_holdout += 1
                block.by_chrom[(where, "excluded_by_holdout")] += 1
            else:
                block.by_chrom[(where, "kept")] += 1
                kept.append(window)
        block.variants_skipped, block.classified = draw_windows(kept, self.providers, self.seed, settings,
                                                                block.tuples, floor)
        return block

    def iter_blocks(self, windows_per_block: int) -> Iterator[BlockResult]:
        """The whole split, ``windows_per_block`` planned windows at a time, in order."""
        for start, stop in self.plan_blocks(windows_per_block):
            yield self.run_block(start, stop)

