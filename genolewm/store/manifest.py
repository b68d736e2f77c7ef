"""``manifest.json``: what a finished run holds and how it was made; written last."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..remote import INDEX_SUFFIXES, describe, is_url, read_whole, where
from ..types import RunReader, digest

SCHEMA_VERSION = 5


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe_url(url: str) -> list[dict]:
    """A remote input by its URL, size, ETag and Last-Modified (never downloaded to be hashed), and the
    index files beside it by their sha256."""
    out = [{**describe(url), "path": url, "sha256": None}]
    del out[0]["url"]
    for suffix in INDEX_SUFFIXES:
        try:
            describe(url + suffix, warn=False)
        except InputError:
            continue
        data = read_whole(url + suffix)
        out.append({"path": url + suffix, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    out[0]["index_sha256"] = [item["sha256"] for item in out[1:]]
    return out


def content_key(item: dict) -> str:
    """What stands for an input's content in the data identity: its sha256; a remote file's ETag (or
    Last-Modified), size and index files' sha256 (all a private bucket tells may be its index); a local
    file's size when files are not hashed."""
    if item["sha256"]:
        return item["sha256"]
    if is_url(item["path"]):
        return digest({"etag": item.get("etag") or item.get("last_modified"), "size": item["size"],
                       "indexes": item.get("index_sha256", [])})
    return f"size:{item['size']}"


def describe_inputs(paths: Iterable[str], hash_files: bool = True) -> list[dict]:
    """Path, size and sha256 of each input file and of the index files beside it (for a URL,
    `_describe_url`)."""
    out: list[dict] = []
    for path in paths:
        if is_url(path):
            out += [item for item in _describe_url(path) if all(d["path"] != item["path"] for d in out)]
            continue
        for candidate in (path, path + ".fai", path + ".gzi", path + ".tbi", path + ".csi"):
            if os.path.isfile(candidate) and all(d["path"] != os.path.abspath(candidate) for d in out):
                out.append(
                    {
                        "path": os.path.abspath(candidate),
                        "size": os.path.getsize(candidate),
                        "sha256": file_sha256(candidate) if hash_files else None,
                    }
                )
    return out


def data_identity(builder, inputs: list[dict]) -> dict:
    """What changes a tuple: the builder's identity, and the contents of the files its components read
    (their sha256, or size when unhashed, from ``inputs`` as `describe_inputs` gives them), in
    component order; their paths do not count."""
    by_path = {item["path"]: item for item in inputs}
    files = [by_path[where(p)] for p in builder.inputs()]
    return {"schema_version": SCHEMA_VERSION, **builder.identity(), "inputs": [content_key(f) for f in files]}


class Totals:
    """The counts of a run, summed block by block as the blocks arrive."""

    def __init__(self) -> None:
        self.windows: Counter = Counter()
        self.by_edit, self.by_requested = Counter(), Counter()
        self.fallbacks, self.variants_skipped = Counter(), Counter()
        self.shards = 0
        self.shard_tuples: dict[int, int] = {}
        self.by_chrom: Counter = Counter()
        self.masked_bases: Counter = Counter()
        self.classified: Counter = Counter()

    def add(self, counts: dict) -> None:
        self.windows.update(counts["windows"])
        self.by_edit.update(counts["by_edit_source"])
        self.by_requested.update(counts["by_requested_source"])
        self.fallbacks.update(counts["fallbacks"])
        self.variants_skipped.update(counts["variants_skipped"])
        self.shards += 1
        self.shard_tuples[counts["shard"]] = sum(counts["by_requested_source"].values())
        self.by_chrom.update(counts["by_chrom"])
        self.masked_bases.update(counts["masked_bases"])
        self.classified.update(counts["classified"])

    def _windows_by_chrom(self) -> dict:
        out: dict[str, dict[str, int]] = {}
        for (chrom, outcome), n in self.by_chrom.items():
            out.setdefault(chrom, {"kept": 0, "excluded_by_holdout": 0, "skipped_n": 0})[outcome] += n
        return out

    def section(self) -> dict:
        return {
            "windows": {key: self.windows[key] for key in ("seen", "kept", "excluded_by_holdout", "skipped_n")},
            "tuples": {
                "total": sum(self.by_edit.values()),
                "by_edit_source": dict(sorted(self.by_edit.items())),
                "by_requested_source": dict(sorted(self.by_requested.items())),
            },
            "windows_by_chrom": self._windows_by_chrom(),
            "shards": self.shards,
            # Tuples per shard (plan block), so readers know their length without opening the shards.
            "shard_tuples": {str(k): n for k, n in sorted(self.shard_tuples.items())},
            "fallbacks": dict(sorted(self.fallbacks.items())),
            "variants_skipped": dict(sorted(self.variants_skipped.items())),
            # IUPAC codes other than N in the reference, read as N, each base once (windows.non_acgtn=mask).
            "masked_bases": dict(sorted(self.masked_bases.items())),
            "clnsig": self._clnsig(),
        }

    def _clnsig(self) -> dict:
        """Per source filtering on ClinVar classifications: alleles selected and rejected by CLNSIG value
        as written (``.``: none), counted like ``variants_skipped``."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (source, value, outcome), n in sorted(self.classified.items()):
            out.setdefault(source, {}).setdefault(value, {"selected": 0, "rejected": 0})[outcome] += n
        return out


def unreadable(path: Path, exc: Exception) -> InputError:
    """A run file that cannot be read (truncated, corrupt) as one line naming it."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{path}: cannot be read ({detail}); the run is damaged: rebuild it")


# A manifest is a few kB to a few MB; a larger one is not a manifest, and is not read into memory.
MAX_MANIFEST_BYTES = 64 << 20
# Counts a manifest may state: far above any build, far below what would overflow arithmetic on them.
MAX_COUNT = 1 << 48


def inside(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` (in ``run_dir``) if it resolves inside ``run_dir``: a link out of a run, or a name climbing
    out of it, is refused with one line naming the entry, before anything is opened."""
    root = Path(run_dir).resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        entry = os.path.relpath(os.path.abspath(path), os.path.abspath(run_dir))
        raise InputError(f"{run_dir}: {entry} leads outside the run directory (to {resolved}); a run's files "
                         "must lie inside it, so it is not read")
    return Path(path)


def read_manifest(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not Path(run_dir).is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise InputError(f"{run_dir}: no manifest.json, so not a finished build")
    inside(run_dir, path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"over {MAX_MANIFEST_BYTES >> 20} MB")
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise unreadable(path, exc) from exc
    if not isinstance(manifest, dict):
        raise unreadable(path, ValueError("not a JSON object"))
    check_fields(manifest, path)
    return manifest


def check_fields(manifest: dict, path: Path) -> None:
    """The manifest entries readers act on have their types and ranges, or the run is refused naming the
    first that does not (the rest is only shown, never acted on)."""

    def count(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT

    def bad(key: str, value, want: str) -> InputError:
        shown = json.dumps(value)[:80]
        return unreadable(path, ValueError(f"{key}={shown} is not {want}"))

    shard = manifest.get("shard")
    if not (isinstance(shard, dict) and count(shard.get("index")) and count(shard.get("count"))
            and shard["index"] < shard["count"]):
        raise bad("shard", shard, "{index, count} with 0 <= index < count")
    for key in ("preserve_length",):
        if not isinstance(manifest.get(key), bool):
            raise bad(key, manifest.get(key), "true or false")
    if manifest.get("pad") not in ("flank", "N"):
        raise bad("pad", manifest.get("pad"), "flank or N")
    tuples = manifest.get("shard_tuples")
    if not (isinstance(tuples, dict) and all(k.isdigit() and count(v) for k, v in tuples.items())):
        raise bad("shard_tuples", tuples, "{block: tuples} of counts")
    for key in ("windows", "tuples"):
        section = manifest.get(key)
        if not (isinstance(section, dict)
                and all(count(v) or isinstance(v, dict) and all(count(n) for n in v.values())
                        for v in section.values())):
            raise bad(key, section, "an object of counts")


def check_schema(manifest: dict, run_dir: str | os.PathLike) -> None:
    """Refuse a run written in another schema version than this genolewm reads."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{run_dir}: built with schema_version {manifest.get('schema_version')}, this genolewm "
                         f"reads {SCHEMA_VERSION}; rebuild the run (its config.yaml rebuilds it)")


def reader_of(manifest: dict, run_dir: str | os.PathLike) -> RunReader:
    """The reader of the registered format the manifest names (for this schema version): looked up by name,
    never imported from what the run says (`reader_for`)."""
    from .formats import reader_for

    check_schema(manifest, run_dir)
    form = manifest.get("format")
    return reader_for(form.get("name") if isinstance(form, dict) else None, str(run_dir))
