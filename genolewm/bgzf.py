"""Addresses in a bgzipped file: where its tabix index says records start, and the text between two of them.

A BGZF file is a series of gzip members (blocks) of at most 64 KiB of text
each; a *virtual offset* is a block's compressed offset times 2**16 plus an
offset into its text, and the tabix index (``.tbi``, documented in the SAM
specification's "Tabix index" section) holds the virtual offsets of record
starts: each contig's first record, its bins' chunk starts and its 16 kbp
linear index. Cutting the file at those offsets gives parts of whole
records that can be read independently and in any order, which is what
parallel and resumable passes over a release file need; pysam reads an
index but does not expose these offsets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from isal import igzip, isal_zlib

from .errors import InputError

# The empty block that ends every BGZF file (SAM specification, section 4.1.2).
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
HEADER_BYTES = 18
PSEUDO_BIN = 37450  # the bin holding a contig's first and last offsets
INFLATE_BYTES = 1 << 18  # compressed bytes inflated at a time: a few MB of text


def _span(text: bytes, lo: int, hi: int) -> bytes:
    return text[lo:hi]


class Reader(Protocol):
    """What `BgzfText` reads compressed bytes from: ``read(n)`` returns exactly ``n`` bytes or
    raises `InputError`."""

    def read(self, n: int) -> bytes: ...


@dataclass(frozen=True)
class TabixIndex:
    """What a tabix index knows: its contigs, the record starts in file order, the end of the last record,
    and the records per contig (its statistics, what ``bcftools index -s`` prints)."""

    contigs: tuple[str, ...]
    starts: tuple[int, ...]
    end: int
    records: dict[str, int]


def read_tbi(tbi: bytes, name: str) -> TabixIndex:
    """The tabix index ``tbi`` (the ``.tbi`` file's bytes; ``name`` for messages)."""
    try:
        data = igzip.decompress(tbi)
        if data[:4] != b"TBI\x01":
            raise ValueError("no TBI magic")
        n_ref, _, _, _, _, _, _, l_nm = struct.unpack_from("<8i", data, 4)
        names = data[36:36 + l_nm].split(b"\0")[:n_ref]
        pos = 36 + l_nm
        starts: set[int] = set()
        end = 0
        records: dict[str, int] = {}
        for contig in names:
            (n_bin,) = struct.unpack_from("<i", data, pos)
            pos += 4
            for _ in range(n_bin):
                bin_, n_chunk = struct.unpack_from("<Ii", data, pos)
                pos += 8
                chunks = struct.unpack_from(f"<{2 * n_chunk}Q", data, pos)
                pos += 16 * n_chunk
                if bin_ == PSEUDO_BIN:  # (first, last) offsets, then (records, unplaced records)
                    starts.add(chunks[0])
                    end = max(end, chunks[1])
                    records[contig.decode()] = chunks[2]
                else:
                    starts.update(chunks[::2])
            (n_intv,) = struct.unpack_from("<i", data, pos)
            pos += 4
            starts.update(v for v in struct.unpack_from(f"<{n_intv}Q", data, pos) if v)
            pos += 8 * n_intv
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise InputError(f"{name}: not a tabix index ({exc}); rebuild it with `tabix -f -p vcf` on the VCF") from exc
    return TabixIndex(tuple(n.decode() for n in names), tuple(sorted(s for s in starts if s < end)), end, records)


def cut(starts: TabixIndex, part_bytes: int) -> list[tuple[int, int]]:
    """``(begin, end)`` virtual offsets of parts of about ``part_bytes`` compressed bytes each, in file
    order, covering every record once."""
    if not starts.starts:
        return []
    bounds = [starts.starts[0]]
    for voffset in starts.starts:
        if (voffset >> 16) - (bounds[-1] >> 16) >= part_bytes:
            bounds.append(voffset)
    bounds.append(starts.end)
    return list(zip(bounds[:-1], bounds[1:]))


def _block_size(header: bytes, where: str) -> int:
    if len(header) < HEADER_BYTES or header[:4] != b"\x1f\x8b\x08\x04" or header[12:14] != b"BC":
        raise InputError(f"{where}: not a BGZF block; is the file bgzip-compressed? Run `bgzip -t` on it")
    return struct.unpack_from("<H", header, 16)[0] + 1


class BgzfText:
    """The text between virtual offsets ``begin`` and ``end`` of a BGZF file, read with `lines`;
    ``reader`` yields the compressed bytes from ``begin``'s block on, and nothing past ``end``'s block is
    asked of it. ``consumed`` counts the compressed bytes inflated so far."""

    def __init__(self, reader: Reader, begin: int, end: int, where: str) -> None:
        self.reader, self.where = reader, where
        self.block_bytes = (end >> 16) - (begin >> 16)  # whole blocks before the end's block
        self.skip, self.tail = begin & 0xFFFF, end & 0xFFFF
        self.consumed = 0
        if begin >= end:
            self.block_bytes = self.tail = 0

    def _blocks(self, raw: bytes) -> list[bytes]:
        """The texts of the whole blocks in ``raw``, each checked against its CRC32 and length."""
        texts, pos, view = [], 0, memoryview(raw)
        while pos < len(raw):
            size = _block_size(raw[pos:pos + HEADER_BYTES], self.where)
            crc, length = struct.unpack_from("<II", raw, pos + size - 8)
            try:
                text = isal_zlib.decompress(view[pos + HEADER_BYTES:pos + size - 8], -15)
            except isal_zlib.error as exc:
                raise InputError(f"{self.where}: cannot decompress the block at byte {pos} of a part ({exc}); "
                                 "is the file whole? Run `bgzip -t` on it") from exc
            if len(text) != length or isal_zlib.crc32(text) != crc:
                raise InputError(f"{self.where}: a block fails its CRC check; is the file whole? Run `bgzip -t` on it")
            texts.append(text)
            pos += size
        return texts

    def _whole(self, n: int) -> bytes:
        """``n`` compressed bytes or more: up to the end of the last block they touch."""
        raw = bytearray(self.reader.read(n))
        pos = 0
        while pos < len(raw):
            if pos + HEADER_BYTES > len(raw):
                raw += self.reader.read(pos + HEADER_BYTES - len(raw))
            pos += _block_size(raw[pos:pos + HEADER_BYTES], self.where)
            if pos > len(raw):
                raw += self.reader.read(pos - len(raw))
        return bytes(raw)

    def lines(self, keep: Callable[[bytes, int, int], bytes] = _span) -> Iterator[bytes]:
        """The text as runs of whole lines, a few MB each, each line passed through ``keep(text, lo, hi)``
        (the whole lines of ``text[lo:hi]`` as they are to be read: by default as they are). Lines are
        handed over where they lie in a block's text, so the text is never copied whole."""
        carry = b""
        while self.block_bytes > 0 or self.tail:
            if self.block_bytes > 0:
                raw = self._whole(min(INFLATE_BYTES, self.block_bytes))
                self.block_bytes -= len(raw)
                if self.block_bytes < 0:
                    raise InputError(f"{self.where}: a block runs past the part's end; is the index the file's "
                                     "own? Rebuild it with `tabix -f -p vcf`")
                texts = self._blocks(raw)
            else:
                raw = self._whole(HEADER_BYTES)
                texts = self._blocks(raw)
                texts[-1] = texts[-1][: self.tail]
                self.tail = 0
            self.consumed += len(raw)
            if self.skip:
                texts[0], self.skip = texts[0][self.skip:], 0
            kept = []
            for text in texts:
                first = text.find(b"\n") + 1
                if not first:  # a line longer than the block
                    carry += text
                    continue
                last = text.rfind(b"\n") + 1
                start = 0
                if carry:  # the line that crosses into this block
                    joined = carry + text[:first]
                    kept.append(keep(joined, 0, len(joined)))
                    start = first
                if last > start:
                    kept.append(keep(text, start, last))
                carry = text[last:]
            run = b"".join(kept)
            if run:
                yield run
        if carry:
            yield keep(carry, 0, len(carry))
