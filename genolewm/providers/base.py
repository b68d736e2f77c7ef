"""What every edit provider shares: sampling without repeats, and seed-style callables as providers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from random import Random
from typing import Callable, Sequence

from ..contigs import ContigNames
from ..errors import ContractError
from ..streams import below, block_numbers
from ..types import NOTHING_COUNTED, Draw, Excluded, RelEdit, Tally, WindowContext, digest


def never(_: RelEdit) -> bool:
    return False


def draw_unique(draw: Callable[[], RelEdit | None], count: int, excluded: Excluded,
                hopeless: Callable[[], bool] = lambda: False) -> list[RelEdit]:
    """Call ``draw`` until ``count`` distinct, non-excluded edits are found.

    When a draw finds nothing (None) the first time, ``hopeless()`` says
    whether any draw could (a window all N); the attempt bound keeps a
    degenerate window (almost all N) from spinning. Such a window yields
    fewer edits and the builder reports the shortfall.
    """
    out: list[RelEdit] = []
    seen: set[RelEdit] = set()
    asked = False
    for _ in range(100 * count + 100):
        if len(out) == count:
            break
        edit = draw()
        if edit is None and not asked:
            asked = True
            if hopeless():
                break
        if edit is None or edit in seen or excluded(edit):
            continue
        seen.add(edit)
        out.append(edit)
    return out


def sample_pool(size: int, edit_at: Callable[[int], RelEdit], rng: Random, count: int,
                excluded: Excluded) -> list[tuple[int, RelEdit]]:
    """A uniform sample without replacement of up to ``count`` non-excluded edits of a pool of ``size``,
    as ``(pool index, edit)``.

    A lazy Fisher-Yates shuffle, one number of ``rng`` a step (position ``i + below(rng, size - i)``):
    ``edit_at`` builds edits only for the pool entries it looks at, and only the entries moved are kept
    (a window draws a few edits from a pool of hundreds).
    """
    moved: dict[int, int] = {}
    out: list[tuple[int, RelEdit]] = []
    for i in range(size):
        if len(out) == count:
            break
        j = i + below(rng, size - i)
        pick = moved.get(j, j)
        moved[j] = moved.get(i, i)  # position i is never looked at again
        edit = edit_at(pick)
        if not excluded(edit):
            out.append((pick, edit))
    return out


class Unprepared:
    """Base of the providers with nothing to read ahead for a block and no draws settled in bulk: each
    draw does its own work."""

    whole_tuple_edits = None

    def prepare(self, windows, *, edge_margin: int, count_floor: tuple[str, int] | None = None) -> Tally:
        return NOTHING_COUNTED

    def draw_block(self, windows, keys, count: int, *, edge_margin: int, holdouts) -> list[Draw | None]:
        return [None] * len(windows)


class SyntheticProvider(Unprepared, ABC):
    """Base of the providers that draw from the window's own bases: unplaced, no inputs.

    A subclass says how one attempt turns ``numbers_per_attempt`` numbers of
    the stream into an edit (``attempt``; None where it meets an N) and where
    attempts may fall (``span``: the bounds inside the edge margins, None when
    the window is too short); ``draw`` and ``draw_block`` are made of those:
    attempts repeat until ``count`` distinct edits that are not excluded are
    found (`draw_unique`).
    """

    kind = "synthetic"
    placed = False
    contigs = ContigNames(())
    numbers_per_attempt = 1

    @abstractmethod
    def attempt(self, seq: str, lo: int, hi: int, u: Sequence[int], at: int = 0) -> RelEdit | None:
        """The edit that numbers ``u[at : at + numbers_per_attempt]`` make inside ``[lo, hi)`` of ``seq``."""

    @abstractmethod
    def span(self, seq: str, edge_margin: int) -> tuple[int, int] | None:
        """Where attempts fall in a window of ``seq``, or None when it is too short for any."""

    @property
    def name(self) -> str:
        return self.kind

    def inputs(self) -> tuple[str, ...]:
        return ()

    def settings(self) -> dict:
        return {}

    def identity(self) -> str:
        return digest({"class": type(self).__qualname__, **self.settings()})

    def audit_spec(self) -> dict:
        return {"kind": self.kind, **self.settings()}

    def draw(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
             excluded: Excluded = never, count_floor=None) -> Draw:
        seq = window.sequence
        bounds = self.span(seq, edge_margin)
        if bounds is None:
            return Draw([])
        lo, hi = bounds
        bits, n = rng.getrandbits, self.numbers_per_attempt
        return Draw(draw_unique(lambda: self.attempt(seq, lo, hi, [bits(64) for _ in range(n)]), count, excluded,
                                lambda: seq.count("N", lo, hi) == hi - lo))

    def __call__(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
                 excluded: Excluded = never) -> list[RelEdit]:
        """The seed's call: just the edits."""
        return self.draw(window, rng, count, edge_margin=edge_margin, excluded=excluded).edits

    def draw_block(self, windows, keys, count: int, *, edge_margin: int, holdouts) -> list[Draw | None]:
        """The first ``count`` attempts of each window, from numbers computed for the block at once: they
        settle the draw when none meets an N, repeats or is held out (`draw_unique` would take them)."""
        n = self.numbers_per_attempt
        out: list[Draw | None] = []
        for window, u in zip(windows, block_numbers(keys, n * count)):
            seq = window.sequence
            bounds = self.span(seq, edge_margin)
            edits = [self.attempt(seq, *bounds, u, at) for at in range(0, n * count, n)] if bounds else [None]
            out.append(None if None in edits or len(set(edits)) != count
                       or any(holdouts.excludes_edit(window, e) for e in edits) else Draw(edits))
        return out


class FunctionProvider(Unprepared):
    """A seed-style provider function ``f(window, rng, count, ...) -> edits`` as an `EditProvider`.

    ``f`` is called with ``edge_margin`` and ``excluded`` keywords when it
    accepts them. It reads no files and the audit cannot check it; it is
    for tests and notebooks, not for configured builds.
    """

    contigs = ContigNames(())

    def __init__(self, name: str, function: Callable, placed: bool = False) -> None:
        self.name, self.function, self.placed = name, function, placed

    def inputs(self) -> tuple[str, ...]:
        return ()

    def identity(self) -> str:
        return digest({"function": f"{getattr(self.function, '__module__', '')}."
                                   f"{getattr(self.function, '__qualname__', repr(self.function))}"})

    def audit_spec(self) -> dict:
        return {"kind": "function", "name": self.name}

    def draw(self, window, rng, count, *, edge_margin, excluded=never, count_floor=None) -> Draw:
        try:
            got = self.function(window, rng, count, edge_margin=edge_margin, excluded=excluded)
        except TypeError:
            got = self.function(window, rng, count)
        edits = list(got or ())
        for edit in edits:
            if not isinstance(edit, RelEdit):
                raise ContractError(f"provider {self.name!r} returned {edit!r} for {window.label}, not a RelEdit")
        return Draw(edits)
