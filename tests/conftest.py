"""Shared fixtures: composed configs, the demo build, and small input files made on the fly."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from genolewm.build import run
from genolewm.config import CONFIG_PATH, PREPARE_CONFIG_PATH


def pytest_addoption(parser):
    parser.addoption(
        "--update-snapshots", action="store_true", default=False,
        help="rewrite tests/snapshots/*.yaml from the composed configs (on purpose only)",
    )


@pytest.fixture
def compose_cfg():
    """compose_cfg(overrides, config_name="build") -> the composed config, without the hydra node."""

    def _compose(overrides=(), config_name="build"):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=PREPARE_CONFIG_PATH if config_name == "prepare" else CONFIG_PATH,
                                   version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


def composed(overrides=()):
    """The build config with ``overrides``, composed outside any fixture (for module-scoped builds)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="build", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo build of the README: mix=default holdout=chr8 on the demo data (run in-process)."""
    cfg = composed(["mix=default", "holdout=chr8"])
    run_dir = tmp_path_factory.mktemp("demo_build")
    manifest = run(cfg, str(run_dir), progress=False)
    return run_dir, manifest, cfg


def write_fasta(path: Path, records: dict[str, str]) -> str:
    with open(path, "w") as fa:
        for name, seq in records.items():
            fa.write(f">{name}\n")
            fa.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    pysam.faidx(str(path))
    return str(path)


def write_vcf(path: Path, contigs: dict[str, int], rows: list[str], info_lines=(), index=True) -> str:
    """Write a VCF (rows: tab-separated CHROM..INFO lines); bgzip and tabix-index it when ``index``."""
    header = ["##fileformat=VCFv4.2"]
    header += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    header += ['##FILTER=<ID=LowQual,Description="low">', '##ALT=<ID=DEL,Description="Deletion">']
    header += list(info_lines) or [
        '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">',
        '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="sig">',
    ]
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    Path(path).write_text("\n".join(header + rows) + "\n")
    if not index:
        return str(path)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return str(path) + ".gz"


def random_seq(n: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


@pytest.fixture
def small_genome(tmp_path):
    """Two contigs of random sequence, for builder and provider tests."""
    seqs = {"chr1": random_seq(40_000, 1), "chr2": random_seq(30_000, 2)}
    return write_fasta(tmp_path / "ref.fa", seqs), seqs



@pytest.fixture(scope="session")
def releases_dir(tmp_path_factory):
    """Release-shaped inputs (tests/releases.py), made once: the NCBI analysis set, gnomAD v4.1 joint,
    genomes and exomes sites files, and ClinVar's weekly VCF; the reference and the records written."""
    import releases

    directory = tmp_path_factory.mktemp("releases")
    reference = releases.grch38_fasta(directory, "ncbi")
    sites = releases.gnomad_sites(reference)
    files = {kind: releases.gnomad_vcf(directory, reference, kind, sites)[0] for kind in ("joint", "genomes", "exomes")}
    files["clinvar"], records = releases.clinvar_vcf(directory, reference)
    return {"reference": reference, "sites": sites, "clinvar_records": records, **files}


def release_paths(files, gnomad: str = "joint") -> list[str]:
    """The build overrides that point paths= at the release-shaped inputs."""
    return ["paths=user", f"paths.reference={files['reference'].path}", f"paths.gnomad={files[gnomad]}",
            f"paths.clinvar={files['clinvar']}", f"paths.output_root={files['reference'].path}.out"]
