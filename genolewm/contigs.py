"""Contig aliases: ``chr1``/``1``, ``chrX``/``X``, ``chrM``/``MT``.

Each file names contigs its own way; the reference FASTA's names are the
ones genolewm uses everywhere (windows, manifest, variant keys). A
:class:`ContigNames` built from one file's names translates a name written
in any convention to that file's spelling.
"""

from __future__ import annotations

from typing import Iterable


def canonical(name: str) -> str:
    """The convention-free form of a contig name: no ``chr`` prefix, ``M`` spelled ``MT``."""
    bare = name[3:] if name[:3].lower() == "chr" else name
    if bare.upper() in ("M", "MT"):
        return "MT"
    return bare.upper() if len(bare) <= 2 else bare


class ContigNames:
    """The contig names of one file, looked up in any naming convention."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self._exact = set(self.names)
        self._by_canonical: dict[str, str] = {}
        for name in self.names:
            self._by_canonical.setdefault(canonical(name), name)

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def __bool__(self) -> bool:
        return bool(self.names)

    def find(self, name: str) -> str | None:
        """This file's spelling of ``name``, or None if it has no such contig."""
        if name in self._exact:
            return name
        return self._by_canonical.get(canonical(name))

    def preview(self, limit: int = 6) -> str:
        shown = ", ".join(self.names[:limit])
        return shown + (" ..." if len(self.names) > limit else "")
