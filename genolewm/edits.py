"""Window-relative edits: their keys, their margins and applying them to a window.

Coordinates: ``rel_pos`` is 0-based inside the window; a variant key
``chrom:pos:ref:alt`` uses the 1-based VCF position ``start_bp + rel_pos + 1``.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .errors import EditError
from .types import EDIT_TYPES, MAX_ALLELE_BP, RelEdit, edit_type, is_acgt

__all__ = ["EDIT_TYPES", "MAX_ALLELE_BP", "PAD_MODES", "RelEdit", "adjusted_side", "apply_edits", "check_in_margins",
           "check_ref", "edit_key", "edit_type", "is_acgt"]

PAD_MODES = ("flank", "N")


def edit_key(chrom: str, start_bp: int, edit: RelEdit) -> str:
    """The VCF-style key ``chrom:pos:ref:alt`` (1-based pos) of a placed edit."""
    return f"{chrom}:{start_bp + edit.rel_pos + 1}:{edit.ref}:{edit.alt}"


def check_in_margins(edit: RelEdit, window_len: int, edge_margin: int, where: Callable[[], str]) -> None:
    """Reject an edit closer than ``edge_margin`` bases to either window end (``where()`` names the
    window in the error)."""
    if edit.rel_pos < edge_margin or edit.end > window_len - edge_margin:
        raise EditError(
            f"{where()}: edit {edit.rel_pos}:{edit.ref}:{edit.alt} is outside the edge margins "
            f"[{edge_margin}, {window_len - edge_margin}) of a {window_len} bp window"
        )


def check_ref(sequence: str, edit: RelEdit, where: Callable[[], str]) -> None:
    """Reject an edit whose REF is not the window bases it replaces (``where()`` names the window)."""
    if sequence[edit.rel_pos : edit.end] != edit.ref:
        raise EditError(
            f"{where()}: edit {edit.rel_pos}:{edit.ref}:{edit.alt} REF does not match the window "
            f"bases {sequence[edit.rel_pos:edit.end]!r}"
        )


def apply_edits(
    sequence: str,
    edits: Sequence[RelEdit],
    *,
    left_flank: str = "",
    right_flank: str = "",
    preserve_length: bool = True,
    where: str = "window",
) -> str:
    """Return ``sequence`` with non-overlapping ``edits`` applied.

    Each edit's REF must equal the window bases it replaces. With
    ``preserve_length`` the result has the window's length: the end away from
    the edits stays anchored and the other end takes real bases from the
    flank (after a net deletion) or loses bases (after a net insertion).
    ``N`` appears only where the flank itself runs out.
    """
    if len(edits) == 1:  # the common case, without the general path's sorting and joining
        e = edits[0]
        pos, ref, alt = e.rel_pos, e.ref, e.alt
        if len(ref) == len(alt) and sequence.startswith(ref, pos):
            return sequence[:pos] + alt + sequence[pos + len(ref) :]
    return apply_sorted(sequence, sorted(edits, key=lambda e: e.rel_pos), left_flank=left_flank,
                        right_flank=right_flank, preserve_length=preserve_length, where=where)


def apply_sorted(sequence: str, ordered: Sequence[RelEdit], *, left_flank: str = "", right_flank: str = "",
                 preserve_length: bool = True, where: str = "window") -> str:
    """`apply_edits` for edits already sorted by position (a tuple's, as the builder makes them)."""
    n = len(sequence)
    parts = []
    cursor = 0
    before = None
    for e in ordered:  # one pass: order, REF and the pieces (haplotype tuples hold dozens of edits)
        pos, ref = e.rel_pos, e.ref
        if pos < cursor:
            raise EditError(f"{where}: edits {before} and {e} overlap")
        if not sequence.startswith(ref, pos):
            check_ref(sequence, e, lambda: where)
        parts.append(sequence[cursor:pos])
        parts.append(e.alt)
        cursor, before = pos + len(ref), e
    parts.append(sequence[cursor:])
    edited = "".join(parts)
    side = None
    if preserve_length and len(edited) != n and ordered:
        # The edits are sorted and apart: the span runs from the first's start to the last's end.
        side = "right" if ordered[0].rel_pos + cursor < n else "left"
    if side is None:
        return edited
    # Keep the end away from the edits where it is. The other end loses bases, or takes them from its
    # flank and then N where the flank runs out; no flank-wide string is built.
    missing = n - len(edited)
    if missing < 0:
        return edited[:n] if side == "right" else edited[-missing:]
    if side == "right":
        fill = right_flank[:missing]
        return edited + fill + "N" * (missing - len(fill))
    fill = left_flank[max(0, len(left_flank) - missing) :]
    return "N" * (missing - len(fill)) + fill + edited


def adjusted_side(window_len: int, edits: Sequence[RelEdit], delta: int | None = None) -> str | None:
    """Which end of a length-preserved target is trimmed or extended: ``left``, ``right`` or None.

    The end farther from the edited span moves: edits centred in the left
    half adjust the right end, and vice versa. None when the length is unchanged.
    """
    if delta is None:
        delta = sum(len(e.alt) for e in edits) - sum(len(e.ref) for e in edits)
    if delta == 0 or not edits:
        return None
    first = min(e.rel_pos for e in edits)
    last = max(e.rel_pos + len(e.ref) for e in edits)
    return "right" if first + last < window_len else "left"
