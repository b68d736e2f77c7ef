"""The tuples of the shipped configs on the demo data, pinned: a change to any draw, order or field fails here.

Each is the sha256 of ``{"<table>/part-k.parquet": sha256 of the shard's rows as sorted-key JSON}``, so
it does not depend on the Parquet writer's version. Change one only on purpose, and say why in
``schema_version``. History: schema_version 3 added each edit's variant identity (chrom, pos, id, af, clnsig) to the
rows, the only change: the draws, the order and every other field are the same. schema_version 4 draws
from counter-based streams (genolewm.streams) instead of seeded Mersenne Twisters: a slot of single-edit
tuples draws all its edits from its source at once, a pool is sampled by a lazy Fisher-Yates taking one
number a step, and synthetic attempts read a fixed count of numbers (indel lengths by inversion); every
digest changed on purpose. schema_version 5 adds the tuples' ``sample`` and ``haplotype`` columns (null but
for haplotype slots) and keeps 512 flanking bases beside each window (was 64): the draws are the same (with
``windows.flank_bp=64`` and the two columns left out, the rows give the version 4 digests).
"""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from genolewm.build import run

GOLDEN = {
    "default_chr8": (["holdout=chr8"], "1be3ecd150815a81c5ec0d59c54d8e092a336e87faa750caa41016f78ce5db74"),
    "multi_pad_n": (["mix=multi", "target.pad=N"], "360e5684313913d81d53e902e167c1c98615edc864562c6ab4d025b1d890b3a9"),
    "realism_rfc": (["mix=realism", "holdout=rfc"], "aa89c3e63d0f35ab7bdcf42ab83520ad7c397545226b87129b6d72ec0060be36"),
    "val_rfc": (["holdout=rfc", "split=val"], "565bee9410f22d982d78b038c69b34036a4d45a1cf87805e11c5a0e5f1d02179"),
    "corpus_pretrain": (["experiment=corpus_pretrain"],
                        "152030c22c4f35b63eca4a52dbf02d5114fc61f2cfdffcdf5d705862c164309e"),
    "nostore_seed3": (["seed=3", "output.store_targets=false", "output.windows_per_shard=7"],
                      "2691e47e42025bea3841808e637a43785c20fe4e53e2ba1b9a47636c7e71d8ce"),
    "haplotypes": (["providers=with_haplotypes", "mix=haplotypes", "mix.counts.haplotypes=3"],
                   "f16a3b2b796ff3d4aed1f7b8abf44343636f198bab639e7693379b4b67e32549"),
}


def content_digest(run_dir) -> str:
    files = {}
    for table in ("windows", "tuples"):
        for part in sorted((run_dir / table).glob("*.parquet")):
            rows = pq.read_table(part).to_pylist()
            files[f"{table}/{part.name}"] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_demo_tuples_are_pinned(compose_cfg, tmp_path, name):
    overrides, digest = GOLDEN[name]
    run(compose_cfg(overrides), str(tmp_path), progress=False)
    assert content_digest(tmp_path) == digest
