"""Run directories: shards of windows and tuples in one of the output formats, and the manifest.

Layout of a finished run (``output=parquet``; ``output=arrays`` has ``arrays/part-k/``):

```text
windows/part-00000.parquet ...   one row per kept window of plan block 0, 1, ...
tuples/part-00000.parquet ...    one row per tuple of the same windows
config.yaml                      the resolved config the run was built from
manifest.json                    written last; its presence marks a finished run
```

Everything is staged under ``.partial/`` and moved into place only when the
whole build succeeded, so an interrupted or failed run never leaves a file
that looks finished.

- `.schema`: the row schema every format shares;
- `.formats`, `.parquet`, `.arrays`: the writers (``output`` group) and their readers;
- `.staging`: ``.partial/`` and publishing;
- `.manifest`: input hashes, totals, reading manifests;
- `.pool`: building shards here or in worker processes;
- `.run`: `write_run`.
"""

from .arrays import ArraysFormat, ArraysReader
from .formats import OutputSettings
from .manifest import describe_inputs, file_sha256, read_manifest, reader_of
from .parquet import COMPRESSIONS, ParquetFormat, ParquetReader
from .run import write_run
from .staging import Staging

__all__ = [
    "ArraysFormat", "ArraysReader", "COMPRESSIONS", "OutputSettings", "ParquetFormat", "ParquetReader", "Staging",
    "describe_inputs", "file_sha256", "read_manifest", "reader_of", "write_run",
]
