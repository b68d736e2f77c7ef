"""What every edit provider shares: sampling without repeats, and seed-style callables as providers."""

from __future__ import annotations

from random import Random
from functools import partial
from typing import Callable, Sequence

from ..contigs import ContigNames
from ..errors import ContractError
from ..streams import Stream, below
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

    def prepare(self, windows, *, edge_margin: int, count_floor: tuple[str, int] | None = None) -> Tally:
        return NOTHING_COUNTED

    def draw_block(self, windows, keys, count: int, *, edge_margin: int, holdouts) -> list[Draw | None]:
        return [None] * len(windows)


def first_draws(provider, windows: Sequence[WindowContext], keys: Sequence[int], count: int, edge_margin: int,
                holdouts) -> list[Draw | None]:
    """:meth:`draw_block` for a provider whose draws keep the draw contract themselves (inside the margins,
    REF matching, distinct, ``excluded`` honoured): each window's draw from a fresh stream with only
    held-out edits excluded, where it gives ``count`` edits."""
    out: list[Draw | None] = []
    for window, key in zip(windows, keys):
        got = provider.draw(window, Stream(key), count, edge_margin=edge_margin,
                            excluded=partial(holdouts.excludes_edit, window))
        out.append(got if len(got.edits) == count else None)
    return out


class SyntheticProvider(Unprepared):
    """Base of the providers that draw from the window's own bases: unplaced, no inputs."""

    kind = "synthetic"
    placed = False
    contigs = ContigNames(())

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

    def draw_block(self, windows, keys, count: int, *, edge_margin: int, holdouts) -> list[Draw | None]:
        return first_draws(self, windows, keys, count, edge_margin, holdouts)

    def __call__(self, window: WindowContext, rng: Random, count: int, *, edge_margin: int,
                 excluded: Excluded = never) -> list[RelEdit]:
        """The seed's call: just the edits."""
        return self.draw(window, rng, count, edge_margin=edge_margin, excluded=excluded).edits


class FunctionProvider(Unprepared):
    """A seed-style provider function ``f(window, rng, count, ...) -> edits`` as an :class:`EditProvider`.

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
