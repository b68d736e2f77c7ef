"""``genolewm-audit RUN_OR_SWEEP_DIR ...``: prove finished builds are what their configs and inputs say.

The audit does not reuse the builder's logic: it builds the run's components
from its ``config.yaml`` only to ask each how to check it (``audit_spec()``:
a kind the audit knows, or the audit fails), reads the shards through the
format's reader, and re-derives every fact it checks from the input files
(with pysam):

- the inputs are the files the run recorded (size and sha256);
- every window is the reference sequence at its coordinates, with its id,
  flanks and length, and belongs to the split the holdout defines;
- every edit lies inside the edge margins, matches the reference, does not
  overlap the tuple's other edits and is not a held-out variant key;
- every edit from a VCF source is a record of that VCF that passes each of
  the source's filter predicates (PASS, AF threshold, CLNSIG terms, edit
  types, allele length); every synthetic edit has its source's shape;
- every stored target equals the reference with the edits applied, cut to
  the window on the side the tuple records;
- every window has exactly the mix's tuples, and the manifest's counts
  match the files.

It prints one line per run (a sweep dir stands for its job dirs): ``ok``,
or ``FAIL`` naming the first offending row; it exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AuditError, GenolewmError
from ..logs import command_logging
from ..store.manifest import inside
from .run import audit_run

__all__ = ["AuditError", "audit_run", "main"]


def runs_of(path: Path) -> list[Path]:
    """A run dir as itself; a sweep dir (no manifest, job dirs inside) as its job dirs, in job order."""
    if (path / "manifest.json").exists() or not path.is_dir():
        return [path]
    jobs = [d for d in path.iterdir() if d.is_dir() and ((d / "manifest.json").exists() or (d / ".hydra").is_dir())]
    return sorted(jobs, key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name)) or [path]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genolewm-audit", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_OR_SWEEP_DIR",
                        help="run dirs, or sweep dirs whose job dirs are audited one by one")
    args = parser.parse_args(argv)
    command_logging()
    failed = 0
    for sweep, run_dir in [(path, run) for path in args.run_dirs for run in runs_of(path)]:
        try:
            if run_dir != sweep:
                inside(sweep, run_dir)  # a job of a sweep dir is read only if it lies inside it
            checked = audit_run(run_dir, progress=True)
        except GenolewmError as exc:
            failed += 1
            print(f"genolewm.audit: FAIL: {exc}", file=sys.stderr)
            continue
        print(f"genolewm.audit: ok: {checked['windows']} windows and {checked['tuples']} tuples in {run_dir}")
    sys.exit(1 if failed else 0)
