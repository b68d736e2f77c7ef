"""``output=arrays``: each shard is a directory of memory-mappable NumPy arrays.

``arrays/part-k/`` holds (``W`` windows of ``L`` bases, ``T`` tuples, ``E`` edits):

```text
windows.npy        uint8 [W, L]   window tokens (A=0 C=1 G=2 T=3 N=4)
targets.npy        uint8 [T, L]   target tokens (when output.store_targets)
tuple_window.npy   int64 [T]      row of each tuple's window in windows.npy
tuple_index.npy    int64 [T]      the tuple within its window
edit_offsets.npy   int64 [T + 1]  tuple i's edits are rows edit_offsets[i]:edit_offsets[i+1]
edit_pos.npy       int64 [E]      0-based rel_pos
edit_type.npy      uint8 [E]      SNV=0 INS=1 DEL=2 MNV=3 INDEL=4
edit_ref.npy       uint8 [E, 16]  allele tokens, 0 where padded; edit_ref_len.npy [E]
edit_alt.npy       uint8 [E, 16]  likewise; edit_alt_len.npy [E]
edit_source.npy    int16 [E]      index into meta.json "sources"
tuple_requested.npy int16 [T]     index into "sources"
tuple_side.npy     int8  [T]      adjusted_side: -1 none, 0 left, 1 right (tokens.SIDE_CODES)
edit_af.npy        float64 [E]    the AF that selected a VCF edit (NaN: none)
tuple_sample.npy   int32 [T]      the sample a haplotype slot drew: index into "samples" (-1: none)
tuple_haplotype.npy int8 [T]      its haplotype, 0 or 1 (-1: none)
meta.json          the windows' coordinates and ids, the source and sample names, and per edit
                   the VCF record's ID and CLNSIG terms (null: none)
```

Readers open arrays with ``mmap_mode="c"`` (copy-on-write): a batch touches only its rows, and its
tensors can be views of the files that writing to never changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from ..tokens import SIDE_CODES, FlatEdits, decode, encode, tokens
from ..tuples import TupleBlock, edit_source
from ..types import EDIT_TYPES, ShardRef, WindowContext, edit_type
from .formats import OutputSettings
from .manifest import inside, unreadable
from .schema import WINDOW_META, window_row

SIDES = {code: side for side, code in SIDE_CODES.items()}


SHARD_NAME = re.compile(r"part-(\d{5,})")
# Each array's dtype: a file holding another is refused (an object array is never unpickled).
DTYPES = {"windows": np.uint8, "targets": np.uint8, "tuple_window": np.int64, "tuple_index": np.int64,
          "edit_offsets": np.int64, "edit_pos": np.int64, "edit_type": np.uint8, "edit_ref": np.uint8,
          "edit_ref_len": np.uint8, "edit_alt": np.uint8, "edit_alt_len": np.uint8, "edit_source": np.int16,
          "tuple_requested": np.int16, "tuple_side": np.int8, "edit_af": np.float64, "tuple_sample": np.int32,
          "tuple_haplotype": np.int8}
PER_EDIT = ("edit_type", "edit_ref", "edit_ref_len", "edit_alt", "edit_alt_len", "edit_source", "edit_af")
PER_TUPLE = ("tuple_window", "tuple_requested", "tuple_side", "tuple_sample", "tuple_haplotype")


def shard_dir(shard: ShardRef) -> Path:
    """The shard's directory, if it lies inside the run (a link out of it is refused)."""
    return inside(shard.run_dir, shard.run_dir / "arrays" / f"part-{shard.block:05d}")


@dataclass(frozen=True)
class ArraysFormat(OutputSettings):
    """Token arrays a trainer can memory-map: no decoding, no strings, a batch is slices."""

    name = "arrays"

    def layout(self) -> tuple[str, ...]:
        return ("arrays",)

    def data_files(self) -> dict[str, str]:
        return {}  # NumPy shards: no table a generic reader opens

    def write_shard(self, directory: Path, index: int, windows: Sequence[WindowContext], tuples: TupleBlock) -> None:
        if not tuples.preserve_length:
            raise ConfigError("output=arrays holds targets as rows of window_bp tokens, and "
                              "target.preserve_length=false makes targets of other lengths; use output=parquet")
        out = directory / "arrays" / f"part-{index:05d}"
        out.mkdir(parents=True)
        rows = {w.window_index: i for i, w in enumerate(windows)}
        sources = sorted(set(tuples.requested) | {s for t in tuples.sources for s in t})
        code = {s: i for i, s in enumerate(sources)}
        size = len(tuples)
        edits = [e for t in tuples.edits for e in t]
        flat = FlatEdits.from_strings([e.rel_pos for e in edits], [edit_type(e.ref, e.alt) for e in edits],
                                      [e.ref for e in edits], [e.alt for e in edits])
        counts = np.fromiter((len(t) for t in tuples.edits), np.int64, size)
        arrays = {
            "windows": encode([w.sequence for w in windows]),
            "tuple_window": np.fromiter((rows[i] for i in tuples.column("window_index")), np.int64, size),
            "tuple_index": np.fromiter(tuples.tuple_index, np.int64, size),
            "edit_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "edit_pos": flat.rel_pos, "edit_type": flat.type_code,
            "edit_ref": flat.ref, "edit_ref_len": flat.ref_len.astype(np.uint8),
            "edit_alt": flat.alt, "edit_alt_len": flat.alt_len.astype(np.uint8),
            "edit_source": np.fromiter((code[s] for t in tuples.sources for s in t), np.int16, len(edits)),
            "tuple_requested": np.fromiter((code[s] for s in tuples.requested), np.int16, size),
            "tuple_side": np.fromiter((SIDE_CODES[s] for s in tuples.column("adjusted_side")), np.int8, size),
        }
        notes = [note for t, ns in zip(tuples.edits, tuples.notes) for note in (ns or (None,) * len(t))]
        arrays["edit_af"] = np.array([np.nan if n is None or n.af is None else n.af for n in notes], np.float64)
        samples = sorted({c[0] for c in tuples.carriers if c is not None})
        sample_code = {s: i for i, s in enumerate(samples)}
        arrays["tuple_sample"] = np.fromiter((-1 if c is None else sample_code[c[0]] for c in tuples.carriers),
                                             np.int32, size)
        arrays["tuple_haplotype"] = np.fromiter((-1 if c is None else c[1] for c in tuples.carriers), np.int8, size)
        if self.store_targets:
            ends, data = tuples.target_bytes()
            arrays["targets"] = tokens(data, int(ends[1])) if size else np.zeros((0, 0), np.uint8)
        for name, array in arrays.items():
            np.save(out / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        meta = {"windows": [window_row(w, sequence=False) for w in windows], "sources": sources, "samples": samples,
                "window_bp": len(windows[0].sequence) if windows else 0,
                "edit_ids": [n.id if n else None for n in notes],
                "edit_clnsig": [list(n.clnsig) if n and n.clnsig is not None else None for n in notes]}
        (out / "meta.json").write_text(json.dumps(meta, sort_keys=True, separators=(",", ":")))


class _Shard:
    """One shard's arrays, each memory-mapped when first asked for."""

    def __init__(self, path: Path, run_dir: Path) -> None:
        self.path, self.run_dir = path, run_dir
        try:
            self.meta = json.loads(inside(run_dir, path / "meta.json").read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise unreadable(path / "meta.json", exc) from exc
        meta = self.meta
        if not isinstance(meta, dict):
            raise unreadable(path / "meta.json", ValueError("not a JSON object"))
        windows, names = meta.get("windows"), (meta.get("sources"), meta.get("samples", []))
        if not (isinstance(windows, list) and all(isinstance(w, dict) and set(WINDOW_META) <= set(w) for w in windows)
                and all(isinstance(n, list) and all(isinstance(x, str) for x in n) for n in names)
                and all(isinstance(meta.get(k), list) for k in ("edit_ids", "edit_clnsig"))):
            raise unreadable(path / "meta.json", ValueError("its windows, sources, samples or edit notes are not "
                                                            "lists of what a shard holds"))
        self._arrays: dict[str, np.ndarray] = {}

    def check_codes(self) -> None:
        """Every index the tuple arrays hold points into the shard (a code past a list is refused, not read
        as some other entry)."""
        meta = self.meta

        def within(name: str, lo: int, hi: int) -> None:
            values = self[name]
            if len(values) and (int(values.min()) < lo or int(values.max()) >= hi):
                raise unreadable(self.path / f"{name}.npy", ValueError(f"values outside [{lo}, {hi})"))

        n_edits, n_tuples = len(self["edit_pos"]), len(self["tuple_index"])
        for names, size in ((PER_EDIT, n_edits), (PER_TUPLE, n_tuples)):
            for name in names:
                if len(self[name]) != size or name in ("edit_ref", "edit_alt") and self[name].shape[1:] != (16,):
                    raise unreadable(self.path / f"{name}.npy", ValueError(f"not {size} rows like the shard's others"))
        offsets = self["edit_offsets"]
        runs_fit = len(offsets) == n_tuples + 1 and offsets[0] == 0 and offsets[-1] == n_edits \
            and not (np.diff(offsets) < 0).any()
        if not runs_fit:
            raise unreadable(self.path / "edit_offsets.npy", ValueError("not the tuples' runs of edits"))
        if len(self["windows"]) != len(meta["windows"]):
            raise unreadable(self.path / "windows.npy", ValueError("not one row per window of meta.json"))
        if self.has("targets") and len(self["targets"]) != n_tuples:
            raise unreadable(self.path / "targets.npy", ValueError("not one row per tuple"))
        if len(meta["edit_ids"]) != n_edits or len(meta["edit_clnsig"]) != n_edits:
            raise unreadable(self.path / "meta.json", ValueError("edit notes are not one per edit"))
        within("tuple_window", 0, len(meta["windows"]))
        within("edit_source", 0, len(meta["sources"]))
        within("tuple_requested", 0, len(meta["sources"]))
        within("tuple_sample", -1, len(meta.get("samples", [])))
        within("edit_type", 0, len(EDIT_TYPES))
        within("tuple_side", -1, 2)
        within("edit_ref_len", 1, 17)
        within("edit_alt_len", 1, 17)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            path = inside(self.run_dir, self.path / f"{name}.npy")
            try:
                # Copy-on-write: batches can be views of the file, and writing to one never reaches it.
                array = np.load(path, mmap_mode="c", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise unreadable(path, exc) from exc
            if name in DTYPES and array.dtype != DTYPES[name]:
                raise unreadable(path, ValueError(f"dtype {array.dtype}, not {np.dtype(DTYPES[name])}"))
            self._arrays[name] = array
        return self._arrays[name]

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.npy").is_file()


class ArraysReader:
    """Reads ``output=arrays`` shards; rows come back in the Parquet schema's shape."""

    targets_are_views = True

    def blocks(self, run_dir: Path) -> list[int]:
        names = (SHARD_NAME.fullmatch(p.name) for p in inside(run_dir, Path(run_dir) / "arrays").glob("part-*"))
        return sorted(int(m.group(1)) for m in names if m)

    def label(self, shard: ShardRef, table: str) -> str:
        return f"arrays/part-{shard.block:05d} {table}"

    def window_rows(self, shard: ShardRef) -> Iterator[dict]:
        arrays = _Shard(shard_dir(shard), shard.run_dir)
        if len(arrays["windows"]) != len(arrays.meta["windows"]):
            raise unreadable(arrays.path / "windows.npy", ValueError("not one row per window of meta.json"))
        for i, meta in enumerate(arrays.meta["windows"]):
            yield {**meta, "sequence": decode(arrays["windows"][i])}

    def tuple_rows(self, shard: ShardRef, with_targets: bool = True) -> Iterator[dict]:
        arrays = _Shard(shard_dir(shard), shard.run_dir)
        arrays.check_codes()
        windows, sources = arrays.meta["windows"], arrays.meta["sources"]
        offsets = arrays["edit_offsets"]
        targets = arrays["targets"] if with_targets and arrays.has("targets") else None
        for i in range(len(arrays["tuple_index"])):
            a, b = int(offsets[i]), int(offsets[i + 1])
            window = windows[int(arrays["tuple_window"][i])]
            sample = int(arrays["tuple_sample"][i])
            edits = []
            for k in range(a, b):
                ref = decode(arrays["edit_ref"][k][: arrays["edit_ref_len"][k]])
                alt = decode(arrays["edit_alt"][k][: arrays["edit_alt_len"][k]])
                rel, af = int(arrays["edit_pos"][k]), float(arrays["edit_af"][k])
                edits.append({"rel_pos": rel, "ref": ref, "alt": alt, "edit_type": EDIT_TYPES[arrays["edit_type"][k]],
                              "source": sources[arrays["edit_source"][k]], "chrom": window["chrom"],
                              "pos": None if window["chrom"] is None else window["start_bp"] + rel + 1,
                              "id": arrays.meta["edit_ids"][k], "af": None if np.isnan(af) else af,
                              "clnsig": arrays.meta["edit_clnsig"][k]})
            row = {"window_index": window["window_index"], "window_id": window["window_id"],
                   "tuple_index": int(arrays["tuple_index"][i]),
                   "requested_source": sources[arrays["tuple_requested"][i]],
                   "edit_source": edit_source(tuple(e["source"] for e in edits)), "edits": edits,
                   "sample": None if sample < 0 else arrays.meta["samples"][sample],
                   "haplotype": None if sample < 0 else int(arrays["tuple_haplotype"][i]),
                   "adjusted_side": SIDES[int(arrays["tuple_side"][i])]}
            if targets is not None:
                row["target_window"] = decode(targets[i])
            yield row

    def shard_arrays(self, shard: ShardRef, with_targets: bool = True) -> dict:
        arrays = _Shard(shard_dir(shard), shard.run_dir)
        arrays.check_codes()
        sources = arrays.meta["sources"]
        return {
            "window_tokens": arrays["windows"],
            "window_rows": arrays["tuple_window"],
            "target": arrays["targets"] if with_targets and arrays.has("targets") else None,
            "edit_offsets": arrays["edit_offsets"],
            "edits": FlatEdits(arrays["edit_pos"], arrays["edit_type"], arrays["edit_ref"], arrays["edit_ref_len"],
                               arrays["edit_alt"], arrays["edit_alt_len"]),
            "window_index": np.array([w["window_index"] for w in arrays.meta["windows"]],
                                     np.int64)[np.asarray(arrays["tuple_window"])],
            "tuple_index": arrays["tuple_index"],
            "requested_source": (arrays["tuple_requested"], sources),
            "edit_source": (arrays["edit_source"], sources),
            "window_chrom": [w["chrom"] for w in arrays.meta["windows"]],
            "side": arrays["tuple_side"],
            "window_flanks": [(w["left_flank"], w["right_flank"]) for w in arrays.meta["windows"]],
        }
