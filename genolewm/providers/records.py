"""VCF records decoded in bulk: raw text lines to columns, one row per ALT allele.

One pysam record object per line cost more than everything else the builder
does. Here a batch of lines is parsed at once by Arrow's CSV reader and split
per ALT allele with Arrow compute kernels; Python touches only the alleles a
filter keeps. Values read as pysam reads them: ``.`` is missing, a Float
INFO value is rounded to float32, a list-valued INFO key (``Number`` other
than 0 or 1) is split on ``,``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..arrow import as_indices, as_numpy, column
from ..errors import InputError

COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
# A batch is about MAX_BATCH_LINES lines, and at most about BATCH_BYTES of text: real release VCFs carry
# kilobytes of INFO per line, the prepared ones a few dozen bytes. Long lines are cut (keep_info) before
# they are parsed, so a batch of them costs BATCH_BYTES of memory briefly and a few hundred KB after.
BATCH_BYTES = 16 << 20
MAX_BATCH_LINES = 1 << 15


_NOT_ACGT = np.ones(256, np.int64)
_NOT_ACGT[list(b"ACGT")] = 0


def only_acgt(alleles: pa.Array) -> np.ndarray:
    """Per allele (an Arrow string array): one or more of A/C/G/T and nothing else; false where null."""
    if len(alleles) == 0:
        return np.zeros(0, bool)
    _, offsets, data = alleles.buffers()
    ends = np.frombuffer(offsets, np.int32)[alleles.offset : alleles.offset + len(alleles) + 1]
    # Non-ACGT bytes counted up to each offset: an allele has none when the count does not change.
    bad = np.zeros(1 + ends[-1], np.int64)
    if ends[-1]:
        np.cumsum(_NOT_ACGT[np.frombuffer(data, np.uint8, ends[-1])], out=bad[1:])
    out = (bad[ends[1:]] == bad[ends[:-1]]) & (ends[1:] > ends[:-1])
    return out & as_numpy(pc.is_valid(alleles)) if alleles.null_count else out


def is_one_of(values: pa.Array, texts: Iterable[str]) -> np.ndarray:
    """Where a value is exactly one of ``texts`` (false where null). A hash lookup costs a fraction of
    an anchored regex."""
    return as_numpy(pc.is_in(values, value_set=column(list(texts), pa.string())), False)


def is_missing(values: pa.Array) -> np.ndarray:
    """Where a VCF value is ``.``."""
    return is_one_of(values, ".")


def info_is_list(number) -> bool:
    """Whether pysam returns a tuple for an INFO key of this header ``Number``."""
    return number not in (0, 1)


def header_layout(header, info_keys: Iterable[str]) -> tuple[int, dict[str, bool]]:
    """What `record_batches` needs from a pysam ``VariantHeader``: the number of columns of its
    ``#CHROM`` line, and whether each of ``info_keys`` is list-valued."""
    n_columns = len(str(header).rstrip("\n").rsplit("\n", 1)[-1].split("\t"))
    return n_columns, {key: info_is_list(header.info[key].number) for key in info_keys}


@dataclass
class RecordBatch:
    """Consecutive VCF records as columns, with one row per ALT allele.

    ``start`` (0-based), ``rec`` (the record's row) and ``index`` (the ALT's
    index in its record) are NumPy arrays per allele; ``ref`` and ``alt``
    (upper-cased; a record without ALT has one allele ``.``) are Arrow
    arrays per allele; ``records`` is the Arrow table of the records.
    """

    records: pa.Table
    start: np.ndarray
    rec: np.ndarray
    index: np.ndarray
    ref: pa.Array
    alt: pa.Array
    info_lists: dict[str, bool]  # INFO key -> whether it is list-valued (see info_is_list)
    where: str  # the file, for errors
    _raw: dict = field(default_factory=dict, repr=False)  # INFO key -> info_raw
    _floats: dict = field(default_factory=dict, repr=False)  # INFO key -> info_float

    def __len__(self) -> int:
        return len(self.start)

    def column(self, name: str) -> pa.Array:
        return self.records.column(name).combine_chunks()

    def passed(self) -> np.ndarray:
        """Per allele: its record's FILTER is PASS or unset."""
        return is_one_of(self.column("FILTER"), ("PASS", "."))[self.rec]

    def info_raw(self, key: str) -> pa.Array:
        """Per record: the text of INFO ``key`` (null where it is absent or a bare flag)."""
        if key not in self._raw:
            # The first "key=value" item of each record's INFO, as items split on ";": several times
            # faster than a regex over the whole text.
            items = pc.split_pattern(self.column("INFO"), ";")
            flat, prefix = pc.list_flatten(items), key + "="
            found = np.flatnonzero(as_numpy(pc.starts_with(flat, pattern=prefix), False))
            record = as_numpy(pc.list_parent_indices(items))[found]
            first = np.flatnonzero(np.diff(record, prepend=-1))  # records are in order: a repeat follows its first
            at = np.zeros(len(self.records), np.int64)
            at[record[first]] = found[first]
            values = pc.utf8_slice_codeunits(flat.take(as_indices(at)), start=len(prefix))
            has = np.zeros(len(self.records), bool)
            has[record[first]] = True
            self._raw[key] = pc.if_else(column(has, pa.bool_()), values, pa.nulls(len(has), pa.string()))
        return self._raw[key]

    def info_float(self, key: str) -> np.ndarray:
        """Per allele: INFO ``key`` as a float32-rounded float, NaN where missing (``.``, absent, or no
        value at the allele's index)."""
        if key in self._floats:
            return self._floats[key]
        raw = self.info_raw(key)
        if self.info_lists[key]:
            lists = pc.split_pattern(raw, ",")
            lengths = as_numpy(pc.list_value_length(lists))
            offsets = as_numpy(lists.offsets)[:-1]
            values = pc.list_flatten(lists)
            has = self.index < lengths[self.rec]
            at = np.where(has, offsets[self.rec] + self.index, 0)
        else:
            values = raw
            has = (self.index == 0) & as_numpy(pc.is_valid(raw))[self.rec]
            at = self.rec
        # Only the values that are there are parsed; ".", absent and past-the-end ones stay NaN.
        present = as_numpy(pc.is_valid(values)) & ~is_missing(values)
        numbers = np.full(len(values), np.nan)
        try:
            numbers[present] = as_numpy(pc.cast(pc.filter(values, column(present, pa.bool_())), pa.float32()))
        except pa.ArrowInvalid as exc:
            raise InputError(f"{self.where}: INFO {key} has a value that is not a number ({exc})") from exc
        out = np.where(has, numbers[at], np.nan) if len(numbers) else np.full(len(self), np.nan)
        self._floats[key] = out
        return out

    def info_term_hits(self, key: str, terms: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per allele: whether its record has INFO ``key`` (not ``.``), and whether any of its terms (see
        `split_terms`) is in ``terms``."""
        values = self.info_raw(key)
        present = as_numpy(pc.is_valid(values), False) & ~is_missing(values)
        parent = np.arange(len(values))
        # A comma before "_" is inside a term ("Pathogenic,_low_penetrance"): keep it through the splits.
        values = pc.replace_substring(values, ",_", _KEPT_COMMA)
        for sep in ([","] if self.info_lists[key] else []) + ["|"]:
            lists = pc.split_pattern(values, sep)
            parent = parent[as_numpy(pc.list_parent_indices(lists))]
            values = pc.list_flatten(lists)
        values = pc.replace_substring(values, _KEPT_COMMA, ",_")
        hit = np.zeros(len(self.records), dtype=bool)
        hit[parent[is_one_of(values, sorted(terms))]] = True
        return present[self.rec], (hit & present)[self.rec]

    def info_terms(self, key: str, row: int) -> frozenset[str]:
        """The terms (`split_terms`) of INFO ``key`` of the record of allele ``row``."""
        raw = self.info_raw(key)[int(self.rec[row])].as_py()
        if raw is None or raw == ".":
            return frozenset()
        return frozenset(split_terms(raw, self.info_lists[key]))


_KEPT_COMMA = "\x1f_"


def split_terms(value: str, is_list: bool = True) -> list[str]:
    """The classifications of a ClinVar-style INFO value: ``|`` separates a secondary one, and so does
    ``,`` in a list-valued key, except before ``_``, where it is part of a term
    (``Pathogenic,_low_penetrance``); ``/`` stays inside one (``Pathogenic/Likely_pathogenic``)."""
    value = value.replace(",_", _KEPT_COMMA)
    items = value.split(",") if is_list else [value]
    return [t.replace(_KEPT_COMMA, ",_") for item in items for t in item.split("|") if t]


def line_blocks(read: Callable[[int], bytes], head: bytes = b"", most: int = BATCH_BYTES) -> Iterator[bytes]:
    """A text as blocks of whole lines (``head``, then what ``read(size)`` returns until it returns
    nothing), sized to about MAX_BATCH_LINES lines and at most about ``most`` bytes."""
    rest, size = head, most // 8
    while True:
        chunk = read(size)
        if not chunk:
            if rest:
                yield rest
            return
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            rest += chunk
            continue
        # One copy of the chunk per block: the partial line before it joined to its whole lines.
        block = b"".join((rest, memoryview(chunk)[:cut]))
        yield block
        rest = chunk[cut:]
        # Lines counted in a sample: counting a whole block of kilobyte lines costs as much as parsing it.
        sample = min(len(block), 1 << 16)
        size = min(most, max(1, MAX_BATCH_LINES * sample // max(block.count(b"\n", 0, sample), 1)))


def record_batches(blocks: Iterable[bytes], n_columns: int, info_lists: dict[str, bool],
                   where: str) -> Iterator[RecordBatch]:
    """The records of VCF body text (no header lines), given as blocks of whole lines, a batch per block
    that has any."""
    for block in blocks:
        if block and not block.isspace():
            yield decode(block, n_columns, info_lists, where)


def _read_options(n_columns: int) -> tuple:
    names = list(COLUMNS) + [f"_{i}" for i in range(n_columns - len(COLUMNS))]
    return (
        pcsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 20),
        pcsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        pcsv.ConvertOptions(
            column_types={c: pa.int64() if c == "POS" else pa.string() for c in COLUMNS},
            include_columns=[c for c in COLUMNS if c != "QUAL"], strings_can_be_null=False,
        ),
    )


# Past this many bytes in a block's first line, INFO is cut down to the keys read before the lines are parsed.
LONG_LINE_BYTES = 256


def _item(text: bytes, needle: bytes, lo: int, hi: int) -> int:
    """Where INFO item ``needle`` (``key=``) starts in ``text[lo:hi]`` (an INFO field, or a line holding
    one): after ``;`` or a tab, not inside a longer key; -1 where there is none."""
    at = text.find(needle, lo, hi)
    while at > 0 and text[at - 1] not in (59, 9):  # ";" or tab
        at = text.find(needle, at + 1, hi)
    return at


def keep_info(text: bytes, keys: Iterable[str], n_columns: int = len(COLUMNS), lo: int = 0,
              hi: int | None = None) -> bytes:
    """VCF body lines (``text[lo:hi]``, whole lines) with each record's INFO cut down to its first item of
    each of ``keys``.

    Release files carry kilobytes of INFO a record (gnomAD's ``vep``), of
    which a filter reads a few bytes: finding those items is a few memchr
    calls a line, where parsing every line whole into columns copies and
    scans all of it. A line with fewer than eight columns is left as it is,
    for the parser to name.
    """
    needles = [(key + "=").encode() for key in keys]
    lead, rest = (needles[0], needles[1:]) if needles else (b"\n", [])  # "\n" is in no line: never found
    samples = n_columns > len(COLUMNS)
    out: list[bytes] = []
    append, find, rfind, count = out.append, text.find, text.rfind, text.count
    pos, size = lo, len(text) if hi is None else hi
    while pos < size:
        end = find(b"\n", pos)
        if end < 0:
            end = size
        # INFO starts after the 7th tab: behind the first key's item, where the line has one, a backward
        # search finds that tab at once; otherwise the tabs are walked.
        at = _item(text, lead, pos, end)
        tab = rfind(b"\t", pos, at) if at > pos else -1
        if tab < 0 or count(b"\t", pos, tab) != 6:
            at, tab = -1, pos - 1
            for _ in range(7):
                tab = find(b"\t", tab + 1, end)
                if tab < 0:
                    break
            if tab < 0:
                append(text[pos : end + 1])
                pos = end + 1
                continue
        info, stop = tab + 1, end
        if samples:
            stop = find(b"\t", info, end)
            if stop < 0:
                stop = end
        append(text[pos:info])
        if at < 0 or at >= stop:
            at = _item(text, lead, info, stop)
        for needle in rest:
            if at >= 0:
                item_end = find(b";", at, stop)
                append(text[at : stop if item_end < 0 else item_end])
                append(b";")
            at = _item(text, needle, info, stop)
        if at >= 0:
            item_end = find(b";", at, stop)
            append(text[at : stop if item_end < 0 else item_end])
        append(text[stop : end + 1])
        pos = end + 1
    return b"".join(out)


def slim(text: bytes, keys: Iterable[str], n_columns: int = len(COLUMNS), lo: int = 0,
         hi: int | None = None) -> bytes:
    """``text[lo:hi]`` (whole VCF body lines), with INFO cut to ``keys`` (`keep_info`) if its first
    line is long: release files' lines, where the cut costs less than parsing what it removes."""
    hi = len(text) if hi is None else hi
    if text.find(b"\n", lo, min(hi, lo + LONG_LINE_BYTES)) < 0 < hi - lo - LONG_LINE_BYTES:
        return keep_info(text, keys, n_columns, lo, hi)
    return text[lo:hi] if lo or hi < len(text) else text


def decode(text: bytes, n_columns: int, info_lists: dict[str, bool], where: str) -> RecordBatch:
    """Records (tab-separated VCF body lines) as a `RecordBatch`."""
    text = slim(text, info_lists, n_columns)
    read, parse, convert = _read_options(max(n_columns, len(COLUMNS)))
    try:
        records = pcsv.read_csv(io.BytesIO(text), read_options=read, parse_options=parse,
                                convert_options=convert)
    except (pa.ArrowInvalid, ValueError) as exc:
        raise InputError(f"{where}: malformed VCF record ({exc}); every record needs {n_columns} "
                         "tab-separated columns and an integer POS") from exc
    alts = pc.split_pattern(pc.ascii_upper(records.column("ALT").combine_chunks()), ",")
    counts = as_numpy(pc.list_value_length(alts))
    rec = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    index = np.arange(len(rec)) - first[rec]
    start = as_numpy(records.column("POS").combine_chunks()) - 1
    ref = pc.ascii_upper(records.column("REF").combine_chunks())
    return RecordBatch(records, start[rec], rec, index, ref.take(as_indices(rec)), pc.list_flatten(alts),
                       info_lists, where)
