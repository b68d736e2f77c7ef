"""A run directory from anywhere is data: reading it never imports, calls or opens what it names."""

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from genolewm.errors import InputError
from genolewm.runs import RunSet
from genolewm.store.formats import registered_readers


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from conftest import composed
    from genolewm.build import run

    path = tmp_path_factory.mktemp("demo")
    run(composed(["holdout=chr8"]), str(path), progress=False)
    return path


def crafted(demo_run, tmp_path, change):
    """A copy of the demo run whose manifest ``change(manifest)`` rewrote."""
    path = tmp_path / "run"
    shutil.copytree(demo_run, path)
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_a_reader_named_by_the_run_is_never_imported(demo_run, tmp_path):
    """What a new user tried: a manifest naming ``os.abort`` killed the reading process."""
    run_dir = crafted(demo_run, tmp_path, lambda m: m["format"].update(reader="os.abort"))
    script = f"from genolewm.runs import RunSet; print(sum(1 for _ in RunSet({str(run_dir)!r}).tuples()))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and int(done.stdout) > 0, done.stderr


@pytest.mark.parametrize("name", ["os.abort", "genolewm.store.parquet.ParquetReader", "", None, 7, ["parquet"]])
def test_an_unknown_format_is_one_line_naming_it_and_the_registered_ones(demo_run, tmp_path, name):
    run_dir = crafted(demo_run, tmp_path, lambda m: m["format"].update(name=name))
    with pytest.raises(InputError, match=rf"manifest format.name={re.escape(repr(name))} is not a registered run "
                                         r"format \(registered: arrays, parquet\)") as caught:
        RunSet(run_dir)
    assert "\n" not in str(caught.value)


def test_installed_packages_register_formats_by_entry_point(demo_run, tmp_path, monkeypatch):
    """A third-party format plugs in through the ``genolewm.formats`` entry-point group, without code in
    genolewm: here a package whose reader reads the Parquet layout under its own format name."""
    site = tmp_path / "site"
    (site / "plugin_fmt").mkdir(parents=True)
    (site / "plugin_fmt" / "__init__.py").write_text(textwrap.dedent("""
        from genolewm.store.parquet import ParquetReader

        class PluginReader(ParquetReader):
            pass
    """))
    info = site / "plugin_fmt-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-fmt\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[genolewm.formats]\nplugin = plugin_fmt:PluginReader\n")
    monkeypatch.syspath_prepend(str(site))
    assert "plugin" in registered_readers()
    run_dir = crafted(demo_run, tmp_path, lambda m: m["format"].update(name="plugin"))
    runs = RunSet(run_dir)
    assert type(runs.reader).__name__ == "PluginReader" and sum(1 for _ in runs.tuples()) > 0
