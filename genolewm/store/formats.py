"""What every output format shares: its settings (the ``output`` config group) and its identity; and the
registry of the formats a run can be read in.

A run's manifest names its format (``format.name``); readers are found by
that name among genolewm's own formats and those installed packages declare
in the entry-point group ``genolewm.formats`` (name = format name, object =
its `RunReader` class), for example in a package's
``pyproject.toml``:

```toml
[project.entry-points."genolewm.formats"]
zarr = "mypackage.zarr_format:ZarrReader"
```

Nothing a run directory holds is imported or called: a run only chooses
among the registered names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from typing import ClassVar

from ..errors import ConfigError, InputError
from ..types import RunReader, digest

ENTRY_POINT_GROUP = "genolewm.formats"


@dataclass(frozen=True)
class OutputSettings:
    """How a run is written: shard size, whether targets are stored, whether inputs are hashed."""

    windows_per_shard: int = 256
    """Planned windows per shard: the unit of writing, reading and sharing out."""
    store_targets: bool = True
    """Write the target windows; false leaves them to readers, which rebuild them from the window and edits."""
    hash_inputs: bool = True
    """Record each input's sha256 in the manifest (false: size and mtime only; for very large inputs)."""

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.windows_per_shard, int) or isinstance(self.windows_per_shard, bool) \
                or self.windows_per_shard < 1:
            raise ConfigError(f"output.windows_per_shard={self.windows_per_shard!r}: must be an integer >= 1")

    def identity(self) -> str:
        """The format and the settings that change what a reader gets (not hashing, not compression)."""
        return digest({"format": self.name, "windows_per_shard": self.windows_per_shard,
                       "store_targets": self.store_targets})

    def describe(self) -> dict:
        """The manifest's ``format`` entry: name (what readers are found by), every setting, and the identity
        readers compare."""
        return {"name": self.name, **asdict(self), "identity": self.identity()}


def registered_readers() -> dict[str, type]:
    """Format name -> `RunReader` class: genolewm's own, then the installed packages'
    (``genolewm.formats`` entry points; these cannot replace a built-in name)."""
    from .arrays import ArraysReader
    from .parquet import ParquetReader

    readers: dict[str, type] = {"parquet": ParquetReader, "arrays": ArraysReader}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in readers:
            readers[point.name] = point
    return readers


def reader_for(name, where: str) -> RunReader:
    """A reader of the registered format ``name``; ``where`` names the run in errors."""
    readers = registered_readers()
    if not isinstance(name, str) or name not in readers:
        raise InputError(f"{where}: manifest format.name={name!r} is not a registered run format (registered: "
                         f"{', '.join(sorted(readers))}); install the package that reads it")
    found = readers[name]
    try:
        reader = (found.load() if hasattr(found, "load") else found)()
    except Exception as exc:  # an installed package's reader that fails to load: one line naming it
        raise InputError(f"{where}: the reader of format {name!r} ({getattr(found, 'value', found)}) cannot be "
                         f"loaded ({type(exc).__name__}: {exc})") from exc
    if not isinstance(reader, RunReader):
        raise InputError(f"{where}: the reader registered for format {name!r} is not a RunReader")
    return reader
