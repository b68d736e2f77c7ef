"""Arrow arrays to and from NumPy and Python lists through their buffers.

pyarrow's own conversions (``to_numpy``, ``pa.array``, Python scalars in
compute calls) import pandas, when it is installed, the first time a process
makes one: ~0.3 s and ~40 MB that a build, each build worker and each live
dataset would pay for nothing. The VCF decoder and the Parquet writer go
through these instead.
"""

from __future__ import annotations

from itertools import repeat
from operator import is_not
from typing import Sequence

import numpy as np
import pyarrow as pa

_NUMPY_TYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
                pa.float32(): np.float32, pa.float64(): np.float64}


def _bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")[offset : offset + n].astype(bool)


def as_numpy(array: pa.Array, fill=0) -> np.ndarray:
    """A numeric or boolean Arrow array as NumPy, nulls as ``fill``."""
    n, offset = len(array), array.offset
    boolean = pa.types.is_boolean(array.type)
    if n == 0:
        return np.zeros(0, bool if boolean else _NUMPY_TYPES[array.type])
    validity, data = array.buffers()[:2]
    if boolean:
        values = _bits(data, offset, n)
    else:
        values = np.frombuffer(data, _NUMPY_TYPES[array.type], n, offset * array.type.bit_width // 8)
    return np.where(_bits(validity, offset, n), values, fill) if array.null_count else values


def as_indices(values: np.ndarray) -> pa.Array:
    """NumPy positions as an Arrow int64 array (for ``take``)."""
    return column(np.ascontiguousarray(values, dtype=np.int64), pa.int64())


def column(values: Sequence, type_: pa.DataType) -> pa.Array:
    """Python values (``None``: null) as an Arrow array of ``type_``: integers, floats, (large) strings,
    lists of those, or structs of those (given as one sequence per field)."""
    n = len(values) if not pa.types.is_struct(type_) else len(values[0])
    if pa.types.is_struct(type_):
        return pa.StructArray.from_arrays([column(v, f.type) for v, f in zip(values, type_)], fields=list(type_))
    if isinstance(values, np.ndarray) and type_ == pa.bool_():
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    if isinstance(values, np.ndarray):
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(np.ascontiguousarray(values, _NUMPY_TYPES[type_]))])
    # ``None in values`` and ``count`` run in C: most columns have no null or only nulls, and need no
    # per-value pass to say so.
    nulls = values.count(None) if None in values else 0
    if nulls == n and n:
        return pa.nulls(n, type_)
    valid = np.fromiter(map(is_not, values, repeat(None)), bool, n) if nulls else None
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if type_ in _NUMPY_TYPES:
        data = np.fromiter(values if not nulls else (0 if v is None else v for v in values), _NUMPY_TYPES[type_], n)
        return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(data)], null_count=nulls)
    if pa.types.is_list(type_):
        items = [x for v in values if v is not None for x in v]
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum([0 if v is None else len(v) for v in values], out=offsets[1:])
        return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(offsets)], null_count=nulls,
                                     children=[column(items, type_.value_type)])
    texts = [("" if v is None else v) for v in values] if nulls else values
    offsets = np.zeros(n + 1, np.int64 if type_ == pa.large_string() else np.int32)
    np.cumsum(np.fromiter(map(len, texts), np.int64, n), out=offsets[1:])
    if type_ == pa.string():  # short strings: one join, one encode
        data = "".join(texts).encode()
    else:
        # Long sequences: appending each value's bytes to one buffer copies it once. Joining the strings,
        # then encoding the result, holds two shard-sized temporaries whose fresh pages cost ~8x the copying.
        data = bytearray()
        for t in texts:
            data += t.encode()
    if len(data) != offsets[-1]:  # characters are bytes unless a value is not ASCII
        np.cumsum(np.fromiter((len(t.encode()) for t in texts), np.int64, n), out=offsets[1:])
    return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls)
