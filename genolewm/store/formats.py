"""What every output format shares: its settings (the ``output`` config group) and its identity."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from ..errors import ConfigError
from ..types import digest


@dataclass(frozen=True)
class OutputSettings:
    """How a run is written: shard size, whether targets are stored, whether inputs are hashed."""

    windows_per_shard: int = 256
    store_targets: bool = True
    hash_inputs: bool = True

    name: ClassVar[str] = ""
    reader: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.windows_per_shard, int) or isinstance(self.windows_per_shard, bool) \
                or self.windows_per_shard < 1:
            raise ConfigError(f"output.windows_per_shard={self.windows_per_shard!r}: must be an integer >= 1")

    def identity(self) -> str:
        """The format and the settings that change what a reader gets (not hashing, not compression)."""
        return digest({"format": self.name, "windows_per_shard": self.windows_per_shard,
                       "store_targets": self.store_targets})

    def describe(self) -> dict:
        """The manifest's ``format`` entry: name, reader, every setting, and the identity readers compare."""
        return {"name": self.name, "reader": self.reader, **asdict(self), "identity": self.identity()}
