"""Auditing one finished run: its files against its config, its inputs and its manifest."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from omegaconf import OmegaConf

from ..config import load_run_config, make_builder
from ..errors import AuditError, ConfigError, InputError
from ..logs import progress
from ..remote import INDEX_SUFFIXES, describe, is_url, read_whole, where
from ..runs import first_difference
from ..store import file_sha256, read_manifest, reader_of
from ..store.manifest import data_identity
from ..types import ShardRef, digest
from .checks import HaplotypeSource, HoldoutCheck, RecordCheck, Sequences, edit_checker, edit_type_of, expected_target
from .recount import plan_accounting, skipped_alleles

log = logging.getLogger(__name__)


class _Audit:
    def __init__(self, run_dir: str, show_progress: bool = False) -> None:
        self.run_dir, self.show_progress = run_dir, show_progress
        self.manifest = read_manifest(run_dir)
        config_path = Path(run_dir) / "config.yaml"
        if not config_path.is_file():
            raise AuditError(f"{run_dir}: no config.yaml to audit against")
        try:
            text, cfg = load_run_config(run_dir)
        except ConfigError as exc:
            raise AuditError(str(exc)) from exc
        if hashlib.sha256(text.encode()).hexdigest() != self.manifest.get("config_sha256"):
            raise AuditError(f"{config_path}: its sha256 differs from manifest config_sha256")
        plain = OmegaConf.to_container(cfg, resolve=True)
        self.check_inputs(_strings(plain))
        self.split = self.manifest["split"]
        self.edge_margin = plain["edge_margin"]
        self.preserve = plain["target"]["preserve_length"]
        self.pad = plain["target"]["pad"]
        self.window_bp = plain["windows"]["window_bp"]
        self.flank_bp = plain["windows"]["flank_bp"]
        self.mix = {k: v for k, v in plain["mix"]["counts"].items() if v}
        self.max_edits = max(1, plain["mix"]["multi_edit"]["max_edits"])
        # The components say how to check them; the checks below are the audit's own.
        builder, writer = make_builder(cfg)
        self.builder, self.writer, self.plain = builder, writer, plain
        self.check_input_contents()
        self.sequences = Sequences(builder.windows.audit_spec())
        self.holdout = HoldoutCheck(builder.holdouts.audit_spec())
        self.checks = {name: edit_checker(name, p.audit_spec()) for name, p in builder.providers.items()}
        # The haplotype sources' tuples are re-derived whole, from the reader that checks their edits.
        self.haplotypes = {name: check.source for name, check in self.checks.items()
                           if isinstance(check, RecordCheck) and isinstance(check.source, HaplotypeSource)}
        self.reader = reader_of(self.manifest, run_dir)

    def fail(self, where: str, message: str) -> None:
        raise AuditError(f"{self.run_dir}: {where}: {message}")

    def check_inputs(self, named: set[str]) -> None:
        """The inputs are what the build read, first by what a stat or a HEAD request says (size, ETag),
        before any component is made: only paths the run's config names (``named``: its values), index
        files beside them and files of directories it names; a manifest listing any other path fails, and
        that path is not looked at. Their contents are read in `check_input_contents`."""
        declared = {where(p) for p in named if p}
        inputs = self.manifest.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and isinstance(i.get("path"), str)
                                                   for i in inputs):
            self.fail("manifest.json", "inputs is not a list of {path, size, sha256}")
        for item in inputs:
            path = item["path"]
            if not _listed(path, declared) \
                    and not any(path.startswith(p.rstrip("/") + "/") for p in declared if not is_url(p)):
                self.fail("inputs", f"{path} is not a file the run's config names (nor an index of one); it is not "
                          "read")
            if is_url(path):
                if not item.get("sha256"):  # an index is compared by its contents, later
                    self.check_remote_input(item)
                continue
            if not os.path.isfile(path):
                self.fail("inputs", f"{path} is gone")
            if os.path.getsize(path) != item.get("size"):
                self.fail("inputs", f"{path} changed size since the build")

    def check_input_contents(self) -> None:
        """The inputs' contents are what the build read: only the files the run's components read and their
        index files are read (a manifest listing another fails first)."""
        declared = {where(p) for p in self.builder.inputs()}
        for item in self.manifest["inputs"]:
            path = item["path"]
            if not _listed(path, declared):
                self.fail("inputs", f"{path} is not read by the run's components (nor an index of one); it is not "
                          "read")
            if is_url(path):
                if item.get("sha256"):
                    self.check_remote_input(item)
            elif item.get("sha256") and file_sha256(path) != item["sha256"]:
                self.fail("inputs", f"{path} changed content since the build")

    def check_remote_input(self, item: dict) -> None:
        """A remote input is what the build read: the same size and ETag (or Last-Modified), or, for an
        index, the same sha256."""
        url = item["path"]
        try:
            if item["sha256"]:
                if hashlib.sha256(read_whole(url)).hexdigest() != item["sha256"]:
                    self.fail("inputs", f"{url} changed content since the build")
                return
            now = describe(url)
        except InputError as exc:
            self.fail("inputs", f"{url} cannot be read now ({exc})")
        for key in ("size", "etag", "last_modified"):
            if item.get(key) is not None and now[key] != item[key]:
                self.fail("inputs", f"{url} changed since the build ({key} {item[key]} is now {now[key]})")

    def check_window(self, where: str, row: dict) -> None:
        seq = row["sequence"]
        if hashlib.sha256(seq.encode()).hexdigest() != row["window_id"]:
            self.fail(where, "window_id is not the sha256 of the sequence")
        if len(seq) != self.window_bp or row["end_bp"] - row["start_bp"] != self.window_bp:
            self.fail(where, f"window is not {self.window_bp} bp")
        held = self.holdout.holds_window(row)
        if held != (self.split == "val"):
            self.fail(where, f"window {row['chrom'] or row['record_id']}:{row['start_bp']} "
                      f"{'is held out' if held else 'is not held out'} but is in the {self.split} split")
        lo, hi = max(0, row["start_bp"] - self.flank_bp), row["end_bp"] + self.flank_bp
        region = self.sequences.region(row, lo, hi)
        name = row["chrom"] or row["record_id"]
        if region is None:
            self.fail(where, f"record {row['record_id']} is not in the corpus (or out of order)")
        cut = row["start_bp"] - lo
        if region[cut : cut + self.window_bp] != seq:
            self.fail(where, f"sequence differs from the {self.sequences.kind} at {name}:{row['start_bp']}")
        if region[:cut] != row["left_flank"] or region[cut + self.window_bp:] != row["right_flank"]:
            self.fail(where, f"flanks differ from the {self.sequences.kind}")
        if self.sequences.outside_regions(row):
            self.fail(where, f"window {name}:{row['start_bp']}-{row['end_bp']} is not inside one of the regions")

    def check_tuple(self, where: str, row: dict, window: dict) -> None:
        seq, n = window["sequence"], self.window_bp
        edits = row["edits"]
        source = self.haplotypes.get(row["requested_source"])
        most = source.max_edits if source is not None else self.max_edits
        if not 1 <= len(edits) <= most:
            self.fail(where, f"{len(edits)} edits; the {'source' if source else 'mix'} allows 1 to {most}")
        end = -1
        for e in edits:
            ref, alt, pos = e["ref"], e["alt"], e["rel_pos"]
            label = f"edit {pos}:{ref}:{alt}"
            if not (ref and alt and set(ref + alt) <= set("ACGT") and max(len(ref), len(alt)) <= 16 and ref != alt):
                self.fail(where, f"{label} is not a valid edit")
            if pos < end:
                self.fail(where, f"{label} overlaps the previous edit or is out of order")
            end = pos + len(ref)
            if pos < self.edge_margin or end > n - self.edge_margin:
                self.fail(where, f"{label} is inside the {self.edge_margin} bp edge margin")
            if seq[pos:end] != ref:
                self.fail(where, f"{label} REF differs from the window ({seq[pos:end]!r})")
            if e["edit_type"] != edit_type_of(ref, alt):
                self.fail(where, f"{label} has edit_type {e['edit_type']}, not {edit_type_of(ref, alt)}")
            pos1 = None if window["chrom"] is None else window["start_bp"] + pos + 1
            if (e["chrom"], e["pos"]) != (window["chrom"], pos1):
                self.fail(where, f"{label} says {e['chrom']}:{e['pos']}, the window puts it at {window['chrom']}:{pos1}")
            if pos1 is not None and self.split == "train" and self.holdout.holds_key(window["chrom"], pos1, ref, alt):
                self.fail(where, f"{label} is held-out variant {window['chrom']}:{pos1}:{ref}:{alt}")
            if e["source"] not in self.checks:
                self.fail(where, f"{label} from {e['source']!r}, which is not a provider of the run")
            why = self.checks[e["source"]](window, e)
            if why:
                self.fail(where, f"{label} from {e['source']}: {why}")
        if row["edit_source"] != "+".join(sorted({e["source"] for e in edits})):
            self.fail(where, f"edit_source {row['edit_source']!r} does not name the edits' sources")
        left, right = window["left_flank"], window["right_flank"]
        if self.pad == "N":
            left = right = ""
        expected, side = expected_target(left, seq, right, edits, self.preserve)
        if row["adjusted_side"] != side:
            self.fail(where, f"adjusted_side {row['adjusted_side']!r}, expected {side!r}")
        if "target_window" in row and row["target_window"] != expected:
            self.fail(where, "target_window is not the window with its edits applied")

    def check_carrier(self, where: str, row: dict, window: dict) -> None:
        """A haplotype slot's tuple names its haplotype, and its edits are exactly that haplotype's alleles in
        the window (none, when a fallback served it); other tuples name none."""
        source = self.haplotypes.get(row["requested_source"])
        if source is None:
            if row["sample"] is not None or row["haplotype"] is not None:
                self.fail(where, f"a {row['requested_source']} tuple names sample {row['sample']!r} haplotype "
                          f"{row['haplotype']!r}; only haplotype tuples do")
            return
        sample, haplotype = row["sample"], row["haplotype"]
        if sample not in source.samples or haplotype not in (0, 1):
            self.fail(where, f"sample {sample!r} haplotype {haplotype!r} is not a haplotype of "
                      f"providers.{source.name}'s samples")

        def held_out(pos1: int, ref: str, alt: str) -> bool:
            return self.split == "train" and self.holdout.holds_key(window["chrom"], pos1, ref, alt)

        expected = source.carried(window, self.edge_margin, sample, haplotype, held_out) if window["chrom"] else []
        found = [(e["rel_pos"], e["ref"], e["alt"]) for e in row["edits"]]
        if row["edit_source"] != source.name:
            if expected:
                self.fail(where, f"served by {row['edit_source']}, but {sample} haplotype {haplotype} carries "
                          f"{len(expected)} eligible alleles in the window ({source.path})")
        elif found != expected:
            missing = sorted(set(expected) - set(found))[:3]
            extra = sorted(set(found) - set(expected))[:3]
            self.fail(where, f"edits are not {sample} haplotype {haplotype}'s alleles in the window per "
                      f"{source.path}: missing {missing}, not carried {extra}")

    def rows(self, table: str, per_block: Counter | None = None) -> Iterator[tuple[str, dict]]:
        """``(where, row)`` for every row of ``windows`` or ``tuples``, in plan order, via the format's reader;
        counting the rows of each block into ``per_block``."""
        for block in self.reader.blocks(Path(self.run_dir)):
            shard = ShardRef(Path(self.run_dir), block)
            label = self.reader.label(shard, table)
            rows = self.reader.window_rows(shard) if table == "windows" else self.reader.tuple_rows(shard)
            for number, row in enumerate(rows):
                if per_block is not None:
                    per_block[str(block)] += 1
                yield f"{label} row {number}", row

    def run(self) -> dict:
        windows = self.rows("windows")
        totals = {"by_edit": Counter(), "by_requested": Counter(), "fallbacks": Counter(), "windows": 0, "tuples": 0,
                  "per_shard": Counter()}
        kept: list[dict] = []
        total = sum(self.manifest["shard_tuples"].values())
        with progress(log, self.show_progress, "audit: tuples", total, "tuple") as update:
            self.check_tuples(windows, totals, kept, update)
        self.check_manifest(totals)
        self.check_plan(kept)
        self.check_skipped(kept)
        self.check_identity()
        return {"windows": totals["windows"], "tuples": totals["tuples"]}

    def check_tuples(self, windows: Iterator[tuple[str, dict]], totals: dict, kept: list[dict],
                     update: Callable[[int], None]) -> None:
        """Every tuple row against its window row, its sources and the holdout, counting into ``totals``."""
        window, last_index, slots, expected_index = None, -1, Counter(), 0
        for where, row in self.rows("tuples", totals["per_shard"]):
            while window is None or window["window_index"] < row["window_index"]:
                self.close_window(window, slots)
                wwhere, window = next(windows, (None, None))
                if window is None:
                    self.fail(where, f"window {row['window_index']} has no window row")
                if window["window_index"] <= last_index:
                    self.fail(wwhere, "window_index is not increasing")
                last_index = window["window_index"]
                self.check_window(wwhere, window)
                kept.append({k: window[k] for k in ("window_index", "chrom", "start_bp", "end_bp")})
                totals["windows"] += 1
                slots, expected_index, slot_edits = Counter(), 0, {}
            if window["window_index"] != row["window_index"] or row["window_id"] != window["window_id"]:
                self.fail(where, f"window {row['window_index']} has no window row")
            if row["tuple_index"] != expected_index:
                self.fail(where, f"tuple_index {row['tuple_index']}, expected {expected_index}")
            expected_index += 1
            self.check_tuple(where, row, window)
            self.check_carrier(where, row, window)
            seen = slot_edits.setdefault(row["requested_source"], set())
            # Two haplotypes may carry the same allele: only other slots' edits are distinct in a slot.
            for e in row["edits"] if row["requested_source"] not in self.haplotypes else ():
                key = (e["rel_pos"], e["ref"], e["alt"])
                if key in seen:
                    self.fail(where, f"edit {e['rel_pos']}:{e['ref']}:{e['alt']} repeats an edit of another "
                              f"{row['requested_source']} tuple of this window")
                seen.add(key)
            slots[row["requested_source"]] += 1
            totals["by_edit"][row["edit_source"]] += 1
            totals["by_requested"][row["requested_source"]] += 1
            for e in row["edits"]:
                if e["source"] != row["requested_source"]:
                    totals["fallbacks"][f"{row['requested_source']}->{e['source']}"] += 1
            totals["tuples"] += 1
            update(1)
        self.close_window(window, slots)
        for wwhere, extra in windows:
            self.fail(wwhere, f"window {extra['window_index']} has no tuples")

    def check_plan(self, kept: list[dict]) -> None:
        """Every planned window of the run's blocks is kept (and in the files), held out or mostly N."""
        shard = self.manifest["shard"]
        blocks = [b for k, b in enumerate(self.builder.plan_blocks(self.writer.windows_per_shard))
                  if k % shard["count"] == shard["index"]]
        planned, counts, masked = plan_accounting(self.builder.windows, blocks, self.holdout.holds_window,
                                                  self.split)
        found = [w["window_index"] for w in kept]
        if found != planned:
            missing = sorted(set(planned) - set(found))
            extra = sorted(set(found) - set(planned))
            self.fail("windows", f"planned windows {missing[:5]} are missing from the files" if missing
                      else f"windows {extra[:5]} are not kept windows of the plan")
        for key in ("seen", "kept", "excluded_by_holdout", "skipped_n"):
            if self.manifest["windows"][key] != counts[key]:
                self.fail("manifest.json", f"windows.{key} is {self.manifest['windows'][key]}, the plan gives "
                          f"{counts[key]}")
        if self.manifest.get("masked_bases") != dict(sorted(masked.items())):
            self.fail("manifest.json", f"masked_bases is {self.manifest.get('masked_bases')}, the reference gives "
                      f"{dict(sorted(masked.items()))}")

    def check_skipped(self, kept: list[dict]) -> None:
        """``variants_skipped`` of every VCF source the mix draws from, counted again from the VCF."""
        placed = [(w["chrom"], w["start_bp"], w["end_bp"]) for w in kept if w["chrom"] is not None]
        recorded = self.manifest["variants_skipped"]
        for name, provider in self.builder.providers.items():
            spec = provider.audit_spec()
            if spec["kind"] != "vcf" or not self.mix.get(name) or self.sequences.fasta is None:
                continue
            counted, classes = skipped_alleles(spec["path"], spec["filter"], placed, self.edge_margin,
                                               self.sequences.fasta)
            mine = {k.split(":", 1)[1]: n for k, n in recorded.items() if k.split(":", 1)[0] == name}
            if mine != dict(counted):
                self.fail("manifest.json", f"variants_skipped of {name} is {dict(sorted(mine.items()))}, "
                          f"the VCF gives {dict(sorted(counted.items()))}")
            recorded_classes = self.manifest.get("clnsig", {}).get(name, {})
            if recorded_classes != classes:
                self.fail("manifest.json", f"clnsig of {name} is {recorded_classes}, the VCF gives {classes}")

    def check_identity(self) -> None:
        """The manifest's seed, split, mix and data identity are the config's."""
        m, plain = self.manifest, self.plain
        if m["seed"] != plain["seed"] or m["split"] != plain["split"]:
            self.fail("manifest.json", f"seed {m['seed']} / split {m['split']} differ from config.yaml's "
                      f"{plain['seed']} / {plain['split']}")
        if m["mix"]["counts"] != [[k, v] for k, v in plain["mix"]["counts"].items()]:
            self.fail("manifest.json", f"mix {m['mix']['counts']} differs from config.yaml's {plain['mix']['counts']}")
        expected = data_identity(self.builder, m["inputs"])
        where = first_difference(m["data_identity"], expected, "data_identity")
        if where is not None:
            self.fail("manifest.json", f"{where} is not what config.yaml and the inputs give")
        if m["data_sha256"] != digest(expected):
            self.fail("manifest.json", "data_sha256 is not the digest of data_identity")

    def close_window(self, window: dict | None, slots: Counter) -> None:
        if window is not None and dict(slots) != self.mix:
            self.fail(f"window {window['window_index']}", f"tuples per source {dict(slots)}, mix says {self.mix}")

    def check_manifest(self, totals: dict) -> None:
        m = self.manifest
        checks = {
            "windows.kept": (m["windows"]["kept"], totals["windows"]),
            "tuples.total": (m["tuples"]["total"], totals["tuples"]),
            "tuples.by_edit_source": (m["tuples"]["by_edit_source"], dict(totals["by_edit"])),
            "tuples.by_requested_source": (m["tuples"]["by_requested_source"], dict(totals["by_requested"])),
            "fallbacks": (m["fallbacks"], dict(totals["fallbacks"])),
            "shards": (m["shards"], len(self.reader.blocks(Path(self.run_dir)))),
            "shard_tuples": (m["shard_tuples"], {str(b): totals["per_shard"][str(b)]
                                                 for b in self.reader.blocks(Path(self.run_dir))}),
            "windows.seen": (
                m["windows"]["seen"],
                m["windows"]["kept"] + m["windows"]["excluded_by_holdout"] + m["windows"]["skipped_n"],
            ),
        }
        for key, (recorded, found) in checks.items():
            if recorded != found:
                self.fail("manifest.json", f"{key} is {recorded}, the files give {found}")


def _listed(path: str, declared: set[str]) -> bool:
    """Whether ``path`` is one of ``declared`` or an index file beside one."""
    return path in declared or any(path == p + s for p in declared for s in INDEX_SUFFIXES)


def _strings(node) -> set[str]:
    """Every string value of a plain config (the paths and URLs among them)."""
    if isinstance(node, dict):
        return set().union(*map(_strings, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(_strings, node)) if node else set()
    return {node} if isinstance(node, str) else set()


def audit_run(run_dir: str | os.PathLike, progress: bool = False) -> dict:
    """Check a finished run; raise `AuditError` at the first violation, else return what was checked.
    ``progress``: a bar over the tuples on a terminal, a log line every few seconds otherwise."""
    return _Audit(str(run_dir), progress).run()
