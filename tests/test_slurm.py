"""Sweeps on a real SLURM cluster: one node on this machine (scripts/slurm-local.sh), Hydra's submitit launcher."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genolewm.build import run
from genolewm.runs import RunSet, read_tuples

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "slurm-local.sh"


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sbatch") is None or shutil.which("slurmctld") is None:
        pytest.skip("SLURM is not installed (apt-get install slurmctld slurmd slurm-client munge; .ci/run does)")
    started = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"the local SLURM cluster did not start: {started.stderr.strip()[-300:]}")
    return started.stdout.strip()


def sweep(*args):
    return subprocess.run([sys.executable, "-m", "genolewm.build", "-m", "hydra/launcher=slurm", "hydra.launcher.mem_gb=1",
                           *args], capture_output=True, text=True, timeout=600)


def summary(sweep_dir):
    with open(sweep_dir / "sweep_summary.csv") as handle:
        return {row["job"]: row for row in csv.DictReader(handle)}


def test_sharded_sweep_on_slurm_is_the_unsharded_build(slurm, compose_cfg, tmp_path):
    out = sweep("shard.count=3", "shard.index=range(3)", "holdout=chr8", "output.windows_per_shard=20",
                f"hydra.launcher.partition={slurm}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = summary(tmp_path / "sweep")
    assert [rows[j]["status"] for j in ("0", "1", "2")] == ["ok", "ok", "ok"]
    whole = run(compose_cfg(["holdout=chr8", "output.windows_per_shard=20"]), str(tmp_path / "whole"), progress=False)
    assert whole["shards"] >= 3
    parts = RunSet([tmp_path / "sweep" / j for j in ("0", "1", "2")])
    assert list(parts.tuples()) == list(read_tuples(tmp_path / "whole"))


def test_a_job_that_fails_on_slurm_is_reported(slurm, tmp_path):
    out = sweep("fallback=strict,default", f"hydra.launcher.partition={slurm}", f"hydra.sweep.dir={tmp_path / 's'}")
    assert out.returncode != 0 and "has no fallback" in out.stderr
    rows = summary(tmp_path / "s")
    assert rows["0"]["status"] == "failed" and "has no fallback" in rows["0"]["error"]
    assert rows["1"]["status"] == "ok"
