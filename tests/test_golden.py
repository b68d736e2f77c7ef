"""The tuples of the shipped configs on the demo data, pinned: a change to any draw, order or field fails here.

Each is the sha256 of ``{"<table>/part-k.parquet": sha256 of the shard's rows as sorted-key JSON}``, so
it does not depend on the Parquet writer's version. Change one only on purpose, and say why in
``schema_version``. History: the digests taken before the extension-point redesign (issue 9) held after
it; schema_version 3 (issue 12) added each edit's variant identity (chrom, pos, id, af, clnsig) to the
rows, the only change: the draws, the order and every other field are the same. schema_version 4 draws
from counter-based streams (genolewm.streams) instead of seeded Mersenne Twisters: a slot of single-edit
tuples draws all its edits from its source at once, a pool is sampled by a lazy Fisher-Yates taking one
number a step, and synthetic attempts read a fixed count of numbers (indel lengths by inversion); every
digest changed on purpose.
"""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from genolewm.build import run

GOLDEN = {
    "default_chr8": (["holdout=chr8"], "58195c4874224eac798c87e6b7037609e8644c740528a1aedb027a19d22cf0c0"),
    "multi_pad_n": (["mix=multi", "target.pad=N"], "b80894e3c9f69fadda174c3d36fc9e8dfaf4b2d9ff9928c907069ff66e4ca7b1"),
    "realism_rfc": (["mix=realism", "holdout=rfc"], "4631081527e4c4759c85d243d2e772a556238984762b4188a7b0923d0c2cf868"),
    "val_rfc": (["holdout=rfc", "split=val"], "b306de93b6e77d4f4ab61fbeceffdfa6453cd7626e5f6eca7ac37b01ff34164e"),
    "corpus_pretrain": (["experiment=corpus_pretrain"],
                        "d46ff1a7d00b47c0c40d2b194d26b5cde6db53334ea3e28604ab38fd54cd0c8f"),
    "nostore_seed3": (["seed=3", "output.store_targets=false", "output.windows_per_shard=7"],
                      "14df3217f49e4544682e6398e12009af19d21b07fd49e82481ca8463c352c634"),
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
