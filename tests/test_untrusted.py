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


def _nested(path, depth=200_000):
    path.write_text("[" * depth + "]" * depth)


def _link(path, target):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _manifest(change):
    def apply(run_dir, outside):
        manifest = json.loads((run_dir / "manifest.json").read_text())
        change(manifest)
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return apply


def _config(text_of):
    def apply(run_dir, outside):
        (run_dir / "config.yaml").write_text(text_of((run_dir / "config.yaml").read_text()))
    return apply


def _lying_schema(run_dir, outside):
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = run_dir / "tuples" / "part-00000.parquet"
    table = pq.read_table(part)
    edits = pa.array([json.dumps(e) for e in table.column("edits").to_pylist()])
    pq.write_table(table.set_column(table.schema.get_field_index("edits"), "edits", edits), part)


def _npy(name, array):
    import numpy as np

    def apply(run_dir, outside):
        part = next((run_dir / "arrays").glob("part-*"))
        with open(part / f"{name}.npy", "wb") as out:
            np.lib.format.write_array(out, array, allow_pickle=True)
    return apply


def _object_array():
    import numpy as np

    values = np.empty(3, dtype=object)
    values[:] = [os_call, 1, 2]
    return values


def os_call():  # what an object array would bring back if it were unpickled
    raise AssertionError("unpickled")


def _meta(change):
    def apply(run_dir, outside):
        path = next((run_dir / "arrays").glob("part-*")) / "meta.json"
        meta = json.loads(path.read_text())
        change(meta)
        path.write_text(json.dumps(meta))
    return apply


def _config_naming_root(run_dir, outside):
    """A config naming ``/`` (with its sha256 in the manifest), and an input outside listed under it."""
    import hashlib

    _config(lambda t: t.replace("source: reference", "source: /"))(run_dir, outside)
    text = (run_dir / "config.yaml").read_bytes()
    other = outside / "part.parquet"
    _manifest(lambda m: (m.update(config_sha256=hashlib.sha256(text).hexdigest()),
                         m["inputs"].append({"path": str(other), "size": other.stat().st_size,
                                             "sha256": "0" * 64})))(run_dir, outside)


CATALOGUE = {  # name: (the run it starts from, how it is crafted)
    "reader named os.abort": ("parquet", _manifest(lambda m: m["format"].update(name="os.abort"))),
    "format not an object": ("parquet", _manifest(lambda m: m.update(format="genolewm.store.parquet.ParquetReader"))),
    "manifest a list": ("parquet", lambda d, o: (d / "manifest.json").write_text("[1, 2, 3]")),
    "manifest deeply nested": ("parquet", lambda d, o: _nested(d / "manifest.json")),
    "manifest not JSON": ("parquet", lambda d, o: (d / "manifest.json").write_bytes(b"\x00\xff{" * 100)),
    "negative shard count": ("parquet", _manifest(lambda m: m["shard"].update(count=-3))),
    "huge tuple count": ("parquet", _manifest(lambda m: m["shard_tuples"].update({"0": 1 << 62}))),
    "negative tuple count": ("parquet", _manifest(lambda m: m["shard_tuples"].update({"0": -5}))),
    "shard name climbing out": ("parquet", _manifest(lambda m: m["shard_tuples"].update({"../../etc/passwd": 1}))),
    "shard missing from the manifest": ("parquet", _manifest(lambda m: m["shard_tuples"].pop("0"))),
    "window counts not numbers": ("parquet", _manifest(lambda m: m["windows"].update(kept="all"))),
    "manifest links out": ("parquet", lambda d, o: _link(d / "manifest.json", o / "manifest.json")),
    "shard links out": ("parquet", lambda d, o: _link(d / "tuples" / "part-00000.parquet", o / "part.parquet")),
    "shard dir links out": ("parquet", lambda d, o: _link(d / "tuples", o)),
    "extra shard links out": ("parquet", lambda d, o: _link(d / "tuples" / "part-00007.parquet", o / "part.parquet")),
    "shard schema lies": ("parquet", _lying_schema),
    "shard not Parquet": ("parquet", lambda d, o: (d / "tuples" / "part-00000.parquet").write_bytes(b"PAR1" * 9)),
    "config with a resolver": ("parquet", _config(lambda t: t.replace("seed: 0", "seed: ${oc.env:HOME}"))),
    "config with a foreign _target_": ("parquet", _config(lambda t: t.replace(
        "_target_: genolewm.windows.ReferenceWindows", "_target_: os.system"))),
    "config not a mapping": ("parquet", _config(lambda t: "- just\n- a list\n")),
    "inputs naming other files": ("parquet", _manifest(lambda m: m["inputs"].append(
        {"path": "/etc/passwd", "size": 1, "sha256": None}))),
    "inputs not a list": ("parquet", _manifest(lambda m: m.update(inputs="/etc/passwd"))),
    "config naming / and inputs under it": ("parquet", lambda d, o: _config_naming_root(d, o)),
    "npy of objects": ("arrays", _npy("tuple_index", _object_array())),
    "npy of another dtype": ("arrays", _npy("windows", __import__("numpy").zeros((2, 3), "float64"))),
    "arrays meta nested": ("arrays", lambda d, o: _nested(next((d / "arrays").glob("part-*")) / "meta.json")),
    "arrays meta windows not a list": ("arrays", _meta(lambda m: m.update(windows=5))),
    "arrays meta without sources": ("arrays", _meta(lambda m: m.pop("sources"))),
    "arrays code past its list": ("arrays", _npy("tuple_window", __import__("numpy").full(48, 10**6, "int64"))),
    "arrays negative code": ("arrays", _npy("edit_source", __import__("numpy").full(48, -1, "int16"))),
    "arrays fewer windows than meta": ("arrays", _npy("windows", __import__("numpy").zeros((1, 12_288), "uint8"))),
    "arrays fewer edit types than edits": ("arrays", _npy("edit_type", __import__("numpy").zeros(2, "uint8"))),
}


@pytest.fixture(scope="module")
def arrays_run(tmp_path_factory):
    from conftest import composed
    from genolewm.build import run

    path = tmp_path_factory.mktemp("arrays")
    run(composed(["holdout=chr8", "output=arrays"]), str(path), progress=False)
    return path


def _entry_points():
    from genolewm.audit import audit_run
    from genolewm.dataset import RunDataset
    from genolewm.report import write_report

    return {
        "RunSet": lambda d: sum(1 for _ in RunSet(d).tuples()),
        "RunDataset": lambda d: sum(len(b["tuple_index"]) for b in RunDataset(d, batch_size=64)),
        "audit": audit_run,
        "report": write_report,
    }


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_crafted_run_dirs_are_refused_in_one_line(demo_run, arrays_run, tmp_path, case):
    """Each crafted run, read by every reader, the audit and the report: a one-line error (the audit's: a
    FAIL), or data read as it is; never a traceback, a crash, a file touched outside the run, or memory
    grown without bound. The audit fails every one of them."""
    import resource

    from genolewm.errors import GenolewmError

    start, craft = CATALOGUE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(demo_run / "manifest.json", outside / "manifest.json")
    shutil.copy(demo_run / "tuples" / "part-00000.parquet", outside / "part.parquet")
    before = {p: p.stat().st_mtime_ns for p in outside.iterdir()}
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run if start == "parquet" else arrays_run, run_dir, symlinks=True)
    craft(run_dir, outside)
    outcomes = {}
    for name, call in _entry_points().items():
        try:
            call(run_dir)
            outcomes[name] = "read"
        except GenolewmError as exc:
            message = str(exc)
            assert message and "\n" not in message, f"{name}: {message!r}"
            outcomes[name] = message
    assert outcomes["audit"] != "read", outcomes
    assert {p: p.stat().st_mtime_ns for p in outside.iterdir()} == before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 << 20  # KiB: well under 3 GB


@pytest.mark.slow
@pytest.mark.parametrize("command", ["genolewm.audit", "genolewm.report"])
def test_commands_on_a_crafted_run_print_one_line(demo_run, tmp_path, command):
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run, run_dir)
    _nested(run_dir / "manifest.json")
    done = subprocess.run([sys.executable, "-m", command, str(run_dir)], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert len((done.stderr + done.stdout).strip().splitlines()) == 1, done.stderr + done.stdout


def test_a_sweep_job_linking_out_of_the_sweep_is_not_read(demo_run, tmp_path, capsys):
    from genolewm.audit import main as audit_main
    from genolewm.report import write_report

    sweep = tmp_path / "sweep"
    shutil.copytree(demo_run, sweep / "0")
    (sweep / "1").symlink_to(demo_run)  # a finished run elsewhere, passed off as a job of this sweep
    with pytest.raises(SystemExit) as done:
        audit_main([str(sweep)])
    lines = capsys.readouterr()
    assert done.value.code == 1 and "genolewm.audit: ok:" in lines.out
    assert "FAIL: " in lines.err and "1 leads outside the run directory" in lines.err
    with pytest.raises(InputError, match=r"1 leads outside the run directory"):
        write_report(sweep)
    assert not (demo_run / "report").exists()
