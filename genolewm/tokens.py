"""Tokens: sequences and edits as NumPy arrays (A=0 C=1 G=2 T=3 N=4), with no torch.

What run formats write and read; `genolewm.tensors` turns batches of
them into torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa

from .errors import ContractError
from .types import MAX_ALLELE_BP, EditType

BASES = "ACGTN"
# A byte translation table: bytes.translate runs several times faster than a numpy lookup.
_TABLE = bytes(BASES.index(chr(c)) if chr(c) in BASES else 255 for c in range(256))
TYPE_CODES = {kind.name: int(kind) for kind in EditType}


@dataclass(frozen=True)
class Vocabulary:
    """Names as small integer ids in tensor batches: sources by position in ``sources``, contigs in
    ``chroms`` (-1: an unplaced window)."""

    sources: tuple[str, ...]
    chroms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "chroms", tuple(self.chroms))
        object.__setattr__(self, "_source_ids", {name: i for i, name in enumerate(self.sources)})
        object.__setattr__(self, "_chrom_ids", {name: i for i, name in enumerate(self.chroms)})

    def source_ids(self, names) -> np.ndarray:
        return np.fromiter((self._source_ids[name] for name in names), np.int64)

    def chrom_ids(self, names) -> np.ndarray:
        return np.fromiter((-1 if name is None else self._chrom_ids[name] for name in names), np.int64)

    def to_dict(self) -> dict:
        return {"sources": list(self.sources), "chroms": list(self.chroms)}


def tokens(buffer, length: int) -> np.ndarray:
    """Rows of ``length`` tokens from concatenated ASCII sequences (any bytes-like buffer).

    The result is writable, so tensors made from it are safe to modify.
    """
    return np.frombuffer(bytearray(buffer).translate(_TABLE), dtype=np.uint8).reshape(-1, length)


def encode(sequences: Sequence[str]) -> np.ndarray:
    """``[n, L]`` tokens of ``n`` sequences of one length ``L``."""
    length = len(sequences[0]) if sequences else 0
    other = next((n for n in map(len, sequences) if n != length), None)
    if other is not None:
        # Reshaping would cut rows at the wrong places wherever the lengths happen to add up.
        raise ContractError(f"token rows need sequences of one length, not {length} and {other} bases; tensors "
                            "hold windows of one window_bp and targets made with target.preserve_length=true")
    return tokens("".join(sequences).encode("ascii"), length) if length else np.zeros((len(sequences), 0), np.uint8)


_BASE_BYTES = bytes.maketrans(bytes(range(5)), BASES.encode())


def decode(row: np.ndarray) -> str:
    """The bases of one row of tokens."""
    return bytes(np.asarray(row, np.uint8)).translate(_BASE_BYTES).decode()


def column_tokens(column) -> np.ndarray:
    """``[n, L]`` tokens of an Arrow string column, straight from its buffer when all values have one length."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return np.zeros((0, 0), np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if array.type == pa.large_string() else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    if (lengths == lengths[0]).all():
        data = array.buffers()[2]
        return tokens(memoryview(data)[int(offsets[0]) : int(offsets[-1])], int(lengths[0]))
    return encode(array.to_pylist())


def allele_tokens(alleles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``[n, 16]`` tokens (0 where padded) and lengths of ``n`` alleles."""
    lengths = np.fromiter(map(len, alleles), dtype=np.int64, count=len(alleles))
    padded = b"".join(a.encode("ascii").ljust(MAX_ALLELE_BP, b"N") for a in alleles)
    out = tokens(padded, MAX_ALLELE_BP).copy() if alleles else np.zeros((0, MAX_ALLELE_BP), np.uint8)
    out[np.arange(MAX_ALLELE_BP) >= lengths[:, None]] = 0
    return out, lengths


@dataclass(frozen=True)
class FlatEdits:
    """The edits of consecutive tuples, one row per edit: what batches are cut from."""

    rel_pos: np.ndarray   # [E] int64
    type_code: np.ndarray  # [E] uint8
    ref: np.ndarray       # [E, 16] uint8, 0 where padded
    ref_len: np.ndarray   # [E]
    alt: np.ndarray
    alt_len: np.ndarray
    source: np.ndarray | None = None  # [E] int64 source ids (see Vocabulary), when labels are asked for

    @classmethod
    def from_strings(cls, rel_pos, types: Sequence[str], refs: Sequence[str], alts: Sequence[str],
                     source: np.ndarray | None = None) -> "FlatEdits":
        ref, ref_len = allele_tokens(refs)
        alt, alt_len = allele_tokens(alts)
        codes = np.fromiter((TYPE_CODES[t] for t in types), np.uint8, len(types))
        return cls(np.asarray(rel_pos, np.int64), codes, ref, ref_len, alt, alt_len, source)

    def _fields(self) -> list[str]:
        return [k for k in self.__dataclass_fields__ if getattr(self, k) is not None]

    def take(self, rows: np.ndarray) -> "FlatEdits":
        """The edits at ``rows`` (any order, a read of only those rows from memory-mapped arrays)."""
        return FlatEdits(**{k: np.asarray(getattr(self, k))[rows] for k in self._fields()})

    @classmethod
    def concat(cls, parts: Sequence["FlatEdits"]) -> "FlatEdits":
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0]._fields()})


SIDE_CODES = {None: -1, "left": 0, "right": 1}  # adjusted_side as stored in token arrays
N_TOKEN = BASES.index("N")


def edited_tokens(windows: np.ndarray, counts: np.ndarray, edits: FlatEdits, sides: np.ndarray,
                  flanks: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Length-preserved targets as tokens: row ``i`` of ``windows`` with its ``counts[i]`` edits applied
    (``edits`` flat, in tuple order, each tuple's sorted by position), as
    `genolewm.edits.apply_edits` with ``preserve_length`` makes them.

    ``sides`` is each tuple's stored ``adjusted_side`` (`SIDE_CODES`);
    ``flanks(i)`` gives tuple ``i``'s left and right flank tokens (empty
    for ``pad: N``), read only for tuples whose length changes. Tuples of
    same-length edits are written in one scatter over the batch.
    """
    out = np.array(windows, dtype=np.uint8, copy=True)
    batch, length = out.shape
    row = np.repeat(np.arange(batch), counts)
    shifts = np.bincount(row, weights=edits.alt_len != edits.ref_len, minlength=batch) > 0
    same = ~shifts[row]
    if same.any():
        lengths = np.asarray(edits.alt_len, np.int64)[same]
        which = np.repeat(np.flatnonzero(same), lengths)
        within = np.arange(len(which)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[row[which], np.asarray(edits.rel_pos)[which] + within] = np.asarray(edits.alt)[which, within]
    first = np.cumsum(counts) - counts
    for i in np.flatnonzero(shifts).tolist():
        left, right = flanks(i)
        window, pieces, cursor = out[i].copy(), [left], 0
        for e in range(first[i], first[i] + counts[i]):
            pos = int(edits.rel_pos[e])
            pieces += [window[cursor:pos], edits.alt[e, : edits.alt_len[e]]]
            cursor = pos + int(edits.ref_len[e])
        pieces += [window[cursor:], right]
        full = np.concatenate(pieces)
        edited = len(full) - len(left) - len(right)
        # The end away from the edits stays; the other takes flank bases, then N where they run out.
        start = len(left) + (edited - length if sides[i] == SIDE_CODES["left"] else 0)
        lo, hi = max(start, 0), min(start + length, len(full))
        out[i] = N_TOKEN
        out[i, lo - start : hi - start] = full[lo:hi]
    return out


def edit_rows(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flat edit indices of tuples ``rows`` (tuple ``i``'s edits are ``offsets[i]:offsets[i+1]``), and
    each tuple's edit count."""
    offsets = np.asarray(offsets)
    starts, counts = offsets[rows], offsets[rows + 1] - offsets[rows]
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + within, counts


def edit_arrays(counts: np.ndarray, edits: FlatEdits, max_edits: int | None = None) -> dict[str, np.ndarray]:
    """Padded per-tuple edit arrays from the flat edits of ``len(counts)`` tuples (``counts[i]`` edits each)."""
    batch = len(counts)
    width = int(max_edits if max_edits is not None else (counts.max() if batch else 0))
    if batch and counts.max() > width:
        raise ValueError(f"a tuple has {counts.max()} edits, more than max_edits={width}")
    row = np.repeat(np.arange(batch), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    slot = np.arange(len(row)) - starts
    out = {
        "edit_pos": np.zeros((batch, width), np.int64),
        "edit_type": np.zeros((batch, width), np.uint8),
        "edit_mask": np.zeros((batch, width), bool),
    }
    out["edit_pos"][row, slot] = edits.rel_pos
    out["edit_type"][row, slot] = edits.type_code
    out["edit_mask"][row, slot] = True
    if edits.source is not None:
        out["edit_source"] = np.zeros((batch, width), np.int64)
        out["edit_source"][row, slot] = edits.source
    for name, toks, lengths in (("ref", edits.ref, edits.ref_len), ("alt", edits.alt, edits.alt_len)):
        out[name] = np.zeros((batch, width, MAX_ALLELE_BP), np.uint8)
        out[f"{name}_mask"] = np.zeros((batch, width, MAX_ALLELE_BP), bool)
        out[name][row, slot] = toks
        out[f"{name}_mask"][row, slot] = np.arange(MAX_ALLELE_BP) < np.asarray(lengths)[:, None]
    return out
