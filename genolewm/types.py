"""The value types every module shares, and one protocol per role.

Value types validate themselves when made (the seed's contract: each bad
field is a `ContractError` naming it). Roles:

- `WindowSource`: a plan of windows (reference tiling, corpus, regions);
- `EditProvider`: where a window's edits come from (`TupleSource`: one whose draw is a
  whole tuple);
- `Holdout`: what never reaches a trainer;
- `RunWriter` / `RunReader`: how a run's shards are written and read.

Every component says what it reads (``inputs()``: the files the manifest
hashes), what it is (``identity()``: a digest of everything that changes its
output) and how the audit checks it (``audit_spec()``: a plain dict whose
``kind`` the audit knows, or the audit fails). Counts are returned by the
calls that make them, never written into shared objects.

Coordinates: ``start_bp``/``end_bp`` are 0-based half-open; ``rel_pos`` is
0-based inside the window; variant keys ``chrom:pos:ref:alt`` and VCF ``pos``
are 1-based.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import InitVar, dataclass, field
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from random import Random
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from .contigs import ContigNames
from .errors import ContractError, EditError

if TYPE_CHECKING:
    from .tuples import TupleBlock  # made of the types here

MAX_ALLELE_BP = 16


class EditType(IntEnum):
    """An edit's kind, numbered as the seed's trainer and the tensor batches number it (``int(kind)``).

    SV is in the numbering for trainers written against the seed; alleles of
    at most ``MAX_ALLELE_BP`` bases never make one.
    """

    SNV = 0
    INS = 1
    DEL = 2
    MNV = 3
    INDEL = 4
    SV = 5


# The kinds edits can have, by name, in code order: what files store and filters name.
EDIT_TYPES = tuple(kind.name for kind in EditType if kind is not EditType.SV)


def digest(value) -> str:
    """``sha256:`` + the hex sha256 of ``value`` as canonical JSON (sorted keys, no spaces, UTF-8)."""
    body = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def is_acgt(allele: str) -> bool:
    return bool(allele) and not allele.strip("ACGT")


def first_non_acgtn(bases: str) -> str | None:
    """The first character of ``bases`` that is not A/C/G/T/N, or None."""
    try:
        # Deleting the allowed bytes is several times faster than a regex scan.
        rest = bases.encode("ascii").translate(None, b"ACGTN")
    except UnicodeEncodeError:
        return next(c for c in bases if ord(c) > 127)
    return chr(rest[0]) if rest else None


def _require_int(value, where: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ContractError(f"{where}={value!r}: must be an integer >= {minimum}")


def _require_text(value, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise ContractError(f"{where}={value!r}: must be a non-empty string")


def edit_type(ref: str, alt: str) -> str:
    """SNV, MNV (same length), INS/DEL (anchored on a shared first base) or INDEL."""
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(ref) == 1 and alt[0] == ref:
        return "INS"
    if len(alt) == 1 and ref[0] == alt:
        return "DEL"
    return "INDEL"


@dataclass(frozen=True, slots=True)
class RelEdit:
    """One edit: replace ``ref`` at window offset ``rel_pos`` (0-based) by ``alt``."""

    rel_pos: int
    ref: str
    alt: str

    def __post_init__(self) -> None:
        if not isinstance(self.rel_pos, int) or isinstance(self.rel_pos, bool) or self.rel_pos < 0:
            raise EditError(f"edit {self}: rel_pos must be a non-negative int")
        for name, allele in (("ref", self.ref), ("alt", self.alt)):
            if not isinstance(allele, str) or not is_acgt(allele) or len(allele) > MAX_ALLELE_BP:
                raise EditError(
                    f"edit {self.rel_pos}:{self.ref}:{self.alt}: {name} must be 1-{MAX_ALLELE_BP} "
                    "uppercase A/C/G/T bases"
                )
        if self.ref == self.alt:
            raise EditError(f"edit {self.rel_pos}:{self.ref}:{self.alt}: ref equals alt, not an edit")

    @classmethod
    def known(cls, rel_pos: int, ref: str, alt: str) -> "RelEdit":
        """An edit made of values already known to be valid (a provider's own checked alleles): not
        checked again."""
        edit = object.__new__(cls)
        object.__setattr__(edit, "rel_pos", rel_pos)
        object.__setattr__(edit, "ref", ref)
        object.__setattr__(edit, "alt", alt)
        return edit

    @property
    def end(self) -> int:
        """0-based exclusive end of the reference bases this edit replaces."""
        return self.rel_pos + len(self.ref)

    @property
    def edit_type(self) -> EditType:
        return EditType[edit_type(self.ref, self.alt)]

    @property
    def ref_bases(self) -> str:
        """The seed's name for ``ref``."""
        return self.ref

    @property
    def alt_bases(self) -> str:
        """The seed's name for ``alt``."""
        return self.alt


@dataclass(frozen=True, slots=True)
class WindowContext:
    """One reference window plus where it came from.

    ``chrom`` is None for unplaced (corpus) windows, which then carry no
    genome coordinates and receive no VCF variants. ``left_flank`` and
    ``right_flank`` are the real bases just outside the window (shorter only
    where the sequence ends); they refill a target after a deletion.
    ``bases_checked`` says the caller has already found only A/C/G/T/N in the
    sequence and flanks (the window sources check each chunk they read), so
    the scan of every window is skipped.
    """

    record_id: str
    source: str
    sequence: str
    start_bp: int = 0
    chrom: str | None = None
    window_index: int = 0
    left_flank: str = ""
    right_flank: str = ""
    window_id: str = field(default="", compare=False)
    bases_checked: InitVar[bool] = False
    _ascii: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self, bases_checked: bool) -> None:
        _require_text(self.record_id, "WindowContext.record_id")
        _require_text(self.source, "WindowContext.source")
        _require_text(self.sequence, f"window {self.record_id}: WindowContext.sequence")
        if self.chrom is not None:
            _require_text(self.chrom, f"window {self.record_id}: WindowContext.chrom (None or a name)")
        _require_int(self.start_bp, f"window {self.record_id}: WindowContext.start_bp", 0)
        _require_int(self.window_index, f"window {self.record_id}: WindowContext.window_index", 0)
        for name in () if bases_checked is True else ("sequence", "left_flank", "right_flank"):
            bad = first_non_acgtn(getattr(self, name))
            if bad is not None:
                raise ContractError(
                    f"window {self.record_id}:{self.start_bp}: WindowContext.{name} has {bad!r}; "
                    "windows hold uppercase A/C/G/T/N only"
                )
        if not self.window_id:
            object.__setattr__(self, "window_id", hashlib.sha256(self.ascii()).hexdigest())

    def ascii(self) -> bytes:
        """The sequence as ASCII bytes, encoded once (its hash, REF checks and targets all read them)."""
        if self._ascii is None:
            object.__setattr__(self, "_ascii", self.sequence.encode())
        return self._ascii

    @property
    def end_bp(self) -> int:
        return self.start_bp + len(self.sequence)

    @property
    def placed(self) -> bool:
        return self.chrom is not None

    @property
    def label(self) -> str:
        """How messages name this window."""
        return f"window {self.window_index} ({self.record_id}:{self.start_bp}-{self.end_bp})"


@dataclass(frozen=True, slots=True)
class EditSourceCount:
    """Number of tuples to draw from one source per window."""

    source: str
    count: int

    def __post_init__(self) -> None:
        _require_text(self.source, "EditSourceCount.source")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ContractError(f"mix.counts.{self.source}={self.count!r}: must be an integer >= 0")


@dataclass(frozen=True, slots=True, order=True)
class HoldoutInterval:
    """0-based half-open genomic interval excluded from training."""

    chrom: str
    start_bp: int
    end_bp: int

    def __post_init__(self) -> None:
        _require_text(self.chrom, "HoldoutInterval.chrom")
        _require_int(self.start_bp, f"holdout interval {self.chrom}: start_bp", 0)
        _require_int(self.end_bp, f"holdout interval {self.chrom}: end_bp", 0)
        if not self.start_bp < self.end_bp:
            raise ContractError(
                f"holdout interval {self.chrom}:{self.start_bp}-{self.end_bp}: need start_bp < end_bp"
            )

    def intersects(self, chrom: str, start_bp: int, end_bp: int) -> bool:
        """Whether ``[start_bp, end_bp)`` on ``chrom`` overlaps this interval."""
        return chrom == self.chrom and start_bp < self.end_bp and self.start_bp < end_bp


@dataclass(frozen=True, slots=True)
class VariantNote:
    """Which VCF record an edit is: its ``ID``, the ``AF`` that selected it, its ``CLNSIG`` terms.

    Each is None where the source does not use it (no AF threshold, no
    CLNSIG filter) or the record has none; synthetic edits have no note.
    """

    id: str | None = None
    af: float | None = None
    clnsig: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class TrainingTuple:
    """One (window, action, target window) training item.

    ``rel_edits`` are sorted by position and never overlap; ``edit_sources``
    names the source that served each of them. ``edit_source`` is that
    source, or the sources joined by ``+`` when a fallback served part of a
    multi-edit tuple. ``adjusted_side`` is the end of the target that was
    trimmed or extended to keep the window length (None when none was).
    ``edit_notes`` say, per edit, which VCF record it is (None for synthetic
    edits); each edit's absolute position is ``chrom`` and
    ``window_start_bp + rel_pos + 1`` (1-based, as in VCF). ``sample`` and
    ``haplotype`` (0 or 1) name the haplotype a haplotype slot drew (None for
    other slots); when that haplotype had no allele in the window, a fallback
    served the tuple and they say which haplotype came up empty.
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
    edit_notes: tuple[VariantNote | None, ...] = ()
    sample: str | None = None
    haplotype: int | None = None

    def __post_init__(self) -> None:
        if not self.window_end_bp > self.window_start_bp:
            raise ContractError(
                f"{self._where()}: window_end_bp={self.window_end_bp} must exceed "
                f"window_start_bp={self.window_start_bp}"
            )
        if not isinstance(self.rel_edits, tuple) or not self.rel_edits:
            raise ContractError(f"{self._where()}: rel_edits must be a non-empty tuple of RelEdit")
        for edit in self.rel_edits:
            if not isinstance(edit, RelEdit):
                raise ContractError(f"{self._where()}: rel_edits holds {edit!r}, not a RelEdit")

    def _where(self) -> str:
        return f"tuple {self.tuple_index} of window {self.source_record_id}:{self.window_start_bp}"


@dataclass(frozen=True, slots=True)
class TrainingDatasetItem:
    """One stream item with the source window needed for trainer encoding."""

    source_window: WindowContext
    training_tuple: TrainingTuple


Excluded = Callable[[RelEdit], bool]


NOTHING_SKIPPED: Mapping[str, int] = MappingProxyType({})
# Whose alleles a haplotype tuple's edits are: the sample's name and its haplotype (0 or 1).
Carrier = tuple[str, int]
# One planned window: its plan index, the window (None: mostly N) and the IUPAC codes read as N among its new bases.
Planned = tuple[int, "WindowContext | None", Mapping[str, int]]
NO_NOTES: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Draw:
    """What one provider call returns: its edits, the variants it skipped by reason, and which VCF
    record each edit is (``notes``; VCF sources only).

    ``skipped`` counts each skipped allele once per run: the call that first
    met it inside a window it served (and past ``count_floor``) counts it.
    ``classified`` counts the same alleles, and the ones the filter kept, by
    ``(CLNSIG value, "selected" | "rejected")`` for sources that filter on
    ClinVar classifications. ``carrier`` is the (sample, haplotype) whose
    alleles the edits are, for sources of whole tuples.
    """

    edits: list[RelEdit]
    skipped: Mapping[str, int] = field(default_factory=lambda: NOTHING_SKIPPED)
    notes: Mapping[RelEdit, VariantNote] = field(default_factory=lambda: NO_NOTES)
    classified: Mapping[tuple[str, str], int] = field(default_factory=lambda: NOTHING_SKIPPED)
    carrier: "Carrier | None" = None


@dataclass(frozen=True)
class Tally:
    """What a provider counted while making a block's windows ready (`EditProvider.prepare`): the
    alleles it skipped by reason and, for sources that filter on ClinVar classifications, the alleles it
    classified by ``(CLNSIG value, "selected" | "rejected")``; each allele once per run, as in `Draw`."""

    skipped: Mapping[str, int] = field(default_factory=lambda: NOTHING_SKIPPED)
    classified: Mapping[tuple[str, str], int] = field(default_factory=lambda: NOTHING_SKIPPED)


NOTHING_COUNTED = Tally()


@runtime_checkable
class Component(Protocol):
    """What every configured component says about itself."""

    def inputs(self) -> tuple[str, ...]:
        """The files it reads; the manifest records their size and sha256."""

    def identity(self) -> str:
        """``sha256:...`` of everything that changes its output (see `digest`)."""

    def audit_spec(self) -> dict:
        """How the audit re-checks its output: ``{"kind": ..., ...}``."""


@runtime_checkable
class WindowSource(Component, Protocol):
    """A plan of windows, each addressed by its plan index.

    ``placed`` sources have genome coordinates (``sequence_names`` names the
    input's sequences); unplaced ones have empty ``sequence_names``. ``iter_plan`` yields
    `Planned` ``(plan index, window, codes)`` for plan indices in
    ``[start, stop)``, with window None where the planned window is skipped
    as mostly N, and ``codes`` the IUPAC codes read as N among the bases no
    earlier window of its sequence covers, by code. ``sequences`` says which
    sequences of its input it tiles and which it leaves out, by kind.
    """

    window_bp: int
    margin_bp: int
    flank_bp: int | None  # None: each window carries its own flanks
    placed: bool
    sequence_names: ContigNames

    def plan_size(self) -> int: ...

    def records(self) -> list[str]:
        """The names of the sequences it tiles (what holdout record ids name)."""

    def locate(self, index: int) -> tuple[str, int]: ...

    def window_at(self, index: int) -> WindowContext | None: ...

    def iter_plan(self, start: int = 0, stop: int | None = None) -> Iterator[Planned]: ...

    def sequences(self) -> dict:
        """``{"tiled": n, "left_out": {kind: n}}``: the input's sequences this source tiles, and those it
        does not, counted by kind."""


@runtime_checkable
class EditProvider(Component, Protocol):
    """Where a window's edits come from.

    ``draw`` returns at most ``count`` distinct edits lying wholly inside
    the edge margins, none for which ``excluded(edit)`` is true; fewer
    means the source ran dry for this window. Draws come only from ``rng``.
    ``count_floor`` ``(contig, bp)`` leaves skip counts of records before it
    to an earlier block of the same run. ``placed`` providers serve only
    windows with coordinates; ``contigs`` are the contigs of their input.

    ``prepare`` is told a block's windows, in order, before any of them is
    drawn for: a source may read and check its variants for all of them at
    once, and returns what it counted doing so. A window drawn for without
    being prepared is counted by its draw.

    ``draw_block`` settles the first draw of many windows at once: per
    window, what ``draw`` would return for ``count`` edits from the
    counter-based stream ``keys[i]`` (`genolewm.streams.Stream`) with
    only ``holdouts``' edits excluded, when that is exactly ``count`` edits;
    None where the window must be drawn on its own (too few eligible edits, a
    draw that repeats, is held out or meets an N, or a source that draws only
    one window at a time).

    ``whole_tuple_edits`` is None for sources that serve a slot's edits one
    by one. A source whose one draw is one whole tuple (a haplotype's alleles
    applied together) sets it to the most edits such a tuple holds, and is a
    `TupleSource`.
    """

    name: str
    placed: bool
    contigs: ContigNames
    whole_tuple_edits: int | None

    def prepare(self, windows: Sequence[WindowContext], *, edge_margin: int,
                count_floor: tuple[str, int] | None = None) -> Tally: ...

    def draw_block(self, windows: Sequence[WindowContext], keys: Sequence[int], count: int, *, edge_margin: int,
                   holdouts: "Holdout") -> list[Draw | None]: ...

    def draw(
        self, window: WindowContext, rng: Random, count: int, *, edge_margin: int, excluded: Excluded,
        count_floor: tuple[str, int] | None = None,
    ) -> Draw: ...


@runtime_checkable
class TupleSource(EditProvider, Protocol):
    """An `EditProvider` whose one draw is one whole tuple (its ``whole_tuple_edits`` is set).

    The builder asks it for a slot's tuples at once, whatever the mix's
    multi-edit sizes: ``draw_tuples`` returns ``n`` draws, the same as ``n``
    calls of ``draw`` with the same ``rng``, each of at most ``count`` edits
    (sorted, apart) and naming its ``carrier``; an empty draw is a shortfall,
    which the slot's fallback serves.
    """

    def draw_tuples(self, window: WindowContext, rng: Random, n: int, count: int, *, edge_margin: int,
                    excluded: Excluded, count_floor: tuple[str, int] | None = None) -> list[Draw]: ...


@runtime_checkable
class Holdout(Component, Protocol):
    """What must never reach a trainer: whole windows, and single edits of kept windows."""

    removes_windows: bool

    def excludes_window(self, window: WindowContext) -> bool: ...

    def excludes_edit(self, window: WindowContext, edit: RelEdit) -> bool: ...

    def in_reference_names(self, reference: ContigNames, others: Sequence[ContigNames] = (),
                           records: Sequence[str] | None = None) -> "Holdout":
        """The same holdout with every contig spelt as the reference spells it; a contig or record id
        (``records``: the window source's sequence names) it names that no input has is an error."""


@dataclass(frozen=True)
class ShardRef:
    """Shard ``block`` (block ``block`` of the window plan) of ``run_dir``."""

    run_dir: Path
    block: int


@runtime_checkable
class RunWriter(Protocol):
    """How a run's shards are written (the ``output`` config group).

    ``name`` goes into the manifest; readers find the `RunReader` that
    reads the format back by that name in the registry of formats
    (`genolewm.store.formats`: genolewm's own and the ``genolewm.formats``
    entry points of installed packages).
    """

    name: str
    windows_per_shard: int
    store_targets: bool
    hash_inputs: bool

    def describe(self) -> dict:
        """The manifest's ``format`` entry: ``name`` and the settings."""

    def layout(self) -> tuple[str, ...]:
        """The top-level names of a run dir that hold shards (staged, then published)."""

    def data_files(self) -> dict[str, str]:
        """Table name -> glob of files generic readers open (the dataset card's ``configs``), if any."""

    def write_shard(self, directory: Path, index: int, windows: Sequence[WindowContext], tuples: TupleBlock) -> None:
        """Write block ``index``; the same block gives the same bytes whichever process writes it.

        ``tuples`` are the block's, over ``windows``: a sequence of `TrainingTuple` made on access,
        whose columns and targets (`target_bytes`) are cheaper in bulk.
        """

    def identity(self) -> str: ...


@runtime_checkable
class RunReader(Protocol):
    """Reads the shards of one format; rows are dicts in the Parquet schema's shape.

    ``targets_are_views``: stored targets come back as slices of mapped
    files, cheaper to read than to rebuild from the windows.
    """

    targets_are_views: bool

    def blocks(self, run_dir: Path) -> list[int]:
        """The plan blocks whose shards ``run_dir`` holds."""

    def label(self, shard: ShardRef, table: str) -> str:
        """How messages name the ``windows`` or ``tuples`` rows of a shard (relative to the run dir)."""

    def window_rows(self, shard: ShardRef) -> Iterator[dict]: ...

    def tuple_rows(self, shard: ShardRef, with_targets: bool = True) -> Iterator[dict]:
        """The tuples of a shard, batch by batch; without the (large) targets when ``with_targets`` is False."""

    def shard_arrays(self, shard: ShardRef, with_targets: bool = True) -> Mapping:
        """Token and edit arrays of a shard (see `genolewm.tensors`), read without decoding sequences;
        with the source of each tuple and edit (``(codes, names)``: names[codes[i]]) and the contig of each
        window; the stored targets (None when there are none) only ``with_targets``."""
