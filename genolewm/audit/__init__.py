"""``python -m genolewm.audit RUN_DIR``: prove a finished build is what its config and inputs say.

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

It exits 1 naming the first offending row, 0 when everything holds.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import AuditError, GenolewmError
from .run import audit_run

__all__ = ["AuditError", "audit_run", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genolewm.audit", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        checked = audit_run(args.run_dir)
    except GenolewmError as exc:
        print(f"genolewm.audit: FAIL: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"genolewm.audit: ok: {checked['windows']} windows and {checked['tuples']} tuples in {args.run_dir}")
