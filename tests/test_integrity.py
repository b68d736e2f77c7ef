"""Integrity at the edges (issue 10): each numbered case of the issue, reproduced, with the fixed behaviour."""

import filecmp
import gzip
import os
import shutil
import subprocess
import sys

import pytest

from genolewm.build import run
from genolewm.demo import DEMO_DIR
from genolewm.errors import InputError
from genolewm.providers import VariantProvider

from conftest import write_vcf


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "genolewm.build", *args], capture_output=True, text=True, cwd=cwd)


def same_files(a, b, tables=("windows", "tuples")):
    for table in tables:
        names = sorted(p.name for p in (a / table).iterdir())
        assert names == sorted(p.name for p in (b / table).iterdir())
        _, mismatch, errors = filecmp.cmpfiles(a / table, b / table, names, shallow=False)
        assert not mismatch and not errors, (table, mismatch, errors)


# 4. The saved config.yaml rebuilds the run byte for byte, through the command line.
@pytest.mark.slow
def test_config_yaml_rebuilds_the_run(tmp_path):
    first = cli("mix=realism", "holdout=rfc", "output.windows_per_shard=9", f"hydra.run.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr
    again = cli("--config-path", str(tmp_path / "a"), "--config-name", "config", f"hydra.run.dir={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr
    same_files(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a" / "config.yaml").read_bytes() == (tmp_path / "b" / "config.yaml").read_bytes()


# 6. Inputs that cannot serve are errors before any work, naming the file and the fix.
def test_header_only_vcf_is_refused(tmp_path):
    empty = write_vcf(tmp_path / "empty.vcf", {"chr1": 100}, [])
    with pytest.raises(InputError, match=r"empty.vcf.gz has no records"):
        VariantProvider(empty)


def test_index_of_another_file_is_refused(tmp_path):
    vcf = tmp_path / "gnomad.vcf.gz"
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz", vcf)
    shutil.copy(DEMO_DIR / "clinvar.vcf.gz.tbi", str(vcf) + ".tbi")
    with pytest.raises(InputError, match=rf"the index {vcf}.tbi does not belong to {vcf} .*; run `tabix -f -p vcf {vcf}`"):
        VariantProvider(str(vcf))


def test_index_older_than_its_file_is_refused(tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", {"chr1": 100}, ["chr1\t5\t.\tA\tC\t.\tPASS\tAF=0.5"])
    stamp = os.path.getmtime(vcf)
    os.utime(vcf + ".tbi", (stamp - 60, stamp - 60))
    with pytest.raises(InputError, match=rf"the index {vcf}.tbi is older than {vcf}; run `tabix -f -p vcf {vcf}`"):
        VariantProvider(vcf)


def test_vcf_rewritten_after_indexing_names_the_file(compose_cfg, tmp_path):
    vcf = tmp_path / "gnomad.vcf.gz"
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz", vcf)
    shutil.copy(DEMO_DIR / "gnomad.vcf.gz.tbi", str(vcf) + ".tbi")
    # Cut the file short but keep its first block, so the index still opens it.
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) // 2])
    os.utime(str(vcf) + ".tbi")
    with pytest.raises(InputError, match=rf"index {vcf}.tbi does not belong to {vcf} .*tabix -f -p vcf"):
        run(compose_cfg([f"paths.gnomad={vcf}"]), str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_a_source_that_serves_nothing_is_a_warning(compose_cfg, tmp_path):
    far = write_vcf(tmp_path / "far.vcf", {"chr1": 240_000}, ["chr1\t239990\t.\tA\tC\t.\tPASS\tAF=0.5"])
    manifest = run(compose_cfg([f"paths.gnomad={far}"]), str(tmp_path / "run"), progress=False)
    (warning,) = manifest["warnings"]
    assert warning.startswith(f"providers.gnomad_common served no edit in {manifest['windows']['kept']} windows")
    assert far in warning
    from genolewm.build import summary

    assert "  warning   providers.gnomad_common served no edit" in summary(str(tmp_path / "run"), manifest)
