"""The small text inputs: BED intervals and variant-key lists.

BED intervals are 0-based half-open (first three columns); variant keys are
``chrom:pos:ref:alt`` with the 1-based VCF position, one per line. Blank
lines and lines starting with ``#``, ``track`` or ``browser`` (after
leading whitespace) are skipped.
"""

from __future__ import annotations

import os
from typing import Iterable

from .errors import ConfigError, ContractError, InputError
from .types import HoldoutInterval


def check_key(key: str, where: str) -> None:
    """Reject text that is not ``chrom:pos:ref:alt`` with a 1-based integer pos.

    Alleles are not checked: a key whose alleles no edit can have only fails
    to match, which never lets a held-out variant through.
    """
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or not parts[0] or not parts[1].isdigit() or int(parts[1]) < 1:
        raise ConfigError(f"{where}: {key!r} is not a variant key chrom:pos:ref:alt with 1-based pos")


def _lines(path: str, key: str) -> Iterable[tuple[int, str]]:
    if not os.path.isfile(path):
        raise InputError(f"{key}: file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.strip()
            if line and not line.startswith(("#", "track", "browser")):
                yield lineno, line


def read_bed(path: str, key: str = "paths.holdout_bed") -> list[HoldoutInterval]:
    """Intervals from the first three columns of a BED file (``key`` names it in errors)."""
    out = []
    for lineno, line in _lines(path, key):
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            out.append(HoldoutInterval(cols[0], int(cols[1]), int(cols[2])))
        except (IndexError, ValueError, ContractError) as exc:
            raise InputError(f"{path}:{lineno}: not a BED interval (chrom start end, 0-based): {line!r}") from exc
    return out


def read_keys(path: str, key: str = "paths.holdout_keys") -> list[str]:
    """Variant keys, one ``chrom:pos:ref:alt`` per line."""
    out = []
    for lineno, line in _lines(path, key):
        try:
            check_key(line, f"{path}:{lineno}")
        except ConfigError as exc:
            raise InputError(str(exc)) from exc
        out.append(line)
    return out
