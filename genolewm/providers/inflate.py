"""A release VCF's records read on another core: a forked child inflates them and cuts their INFO down
to the keys a filter reads, the parent parses what is left.

pysam's BGZF reader inflates on the calling thread and holds the interpreter
lock while it does, so a build reading a release file (kilobytes of INFO a
record) would spend most of its reading time inflating and cutting. A child
that reads the file from the same place and writes the cut records
(`keep_info`) to a pipe takes that work to
the second core; the parent reads a few dozen bytes a record.

The child inflates with ISA-L (the ``isal`` package's gzip reader, about
twice zlib's speed here): a BGZF file is a series of gzip members, and a
virtual offset (the index's address of a record) is the compressed offset of
a member times 2**16 plus an offset into its text.
"""

from __future__ import annotations

import fcntl
import os
import signal

from isal import igzip

from ..errors import InputError
from ..remote import RangeReader
from .records import keep_info, line_blocks

PIPE_BYTES = 1 << 20
# The child cuts blocks small enough to stay in cache: a quarter of its time less than 16 MB blocks.
CUT_BYTES = 1 << 18


class CutRecords:
    """The records of the BGZF file ``path`` from virtual offset ``voffset`` on, their INFO cut to ``keys``
    (`keep_info` for ``n_columns`` columns), read with `read` as
    a file's ``read`` is; `close` (or reading to the end) ends the child."""

    def __init__(self, path: str, voffset: int, keys: tuple[str, ...], n_columns: int) -> None:
        self.path, self.voffset = path, voffset
        read_fd, write_fd = os.pipe()
        try:
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # fewer, larger writes and reads
        except OSError:
            pass
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_fd)
            _child(path, voffset, keys, n_columns, write_fd)
        os.close(write_fd)
        self.fd: int | None = read_fd

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes: fewer only at the end of the file, where it returns b''."""
        if self.fd is None:
            return b""
        parts, got = [], 0
        while got < size:
            part = os.read(self.fd, size - got)
            if not part:
                self._finish()
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _finish(self) -> None:
        os.close(self.fd)
        self.fd = None
        _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise InputError(f"{self.path}: cannot decompress it from virtual offset {self.voffset}; is it "
                             f"bgzip-compressed and whole? Run `bgzip -t {self.path}`")

    def close(self) -> None:
        """End the child early (a contig read to its end) or reap it."""
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


def _child(path: str, voffset: int, keys: tuple[str, ...], n_columns: int, fd: int) -> None:
    """Write the cut records from ``voffset`` on to ``fd`` and exit: 0 at the end, or when the parent stops
    reading."""
    status = 1
    try:
        with RangeReader(path, voffset >> 16) as raw:
            with igzip.open(raw, "rb") as source:
                source.read(voffset & 0xFFFF)
                for block in line_blocks(source.read, most=CUT_BYTES):
                    view = memoryview(keep_info(block, keys, n_columns))
                    while view:
                        view = view[os.write(fd, view):]
        status = 0
    except BrokenPipeError:
        status = 0
    except BaseException:  # noqa: BLE001 - whatever it was, the parent reports it from the exit status
        status = 1
    finally:
        os._exit(status)
