"""Config ↔ code: the schema of every config group, and building the components a config names.

Each group option in ``conf/`` is a node whose ``_target_`` names one class,
and extends the structured config (a dataclass registered in Hydra's
ConfigStore under ``schema/<group>``) generated here from that class's own
signature: field names, types and defaults are written once, in the class.
A wrong type (``windows.window_bp=abc``) therefore fails when the config is
composed, naming the key, before any work starts.

This is the Hydra side of the library: entry points and tests import it;
the library modules never do.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import inspect
import os
import signal
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from .builder import TupleBuilder, TupleSettings
from .demo import demo_path
from .errors import Abort, ConfigError, GenolewmError
from .holdout import HoldoutPolicy
from .mix import Fallbacks, Mix, MultiEdit
from .partition import Consumer
from .providers import HaplotypeProvider, SyntheticIndel, SyntheticSnv, VariantProvider
from .remote import where
from .store import ArraysFormat, ParquetFormat
from .types import EditProvider, Holdout, RunWriter, WindowSource
from .windows import CorpusWindows, ReferenceWindows, RegionWindows

if not OmegaConf.has_resolver("genolewm.demo"):
    OmegaConf.register_new_resolver("genolewm.demo", demo_path)

# A checkout (or editable install) reads the top-level conf/; a wheel ships it as genolewm.conf.
_CHECKOUT_CONF = Path(__file__).resolve().parent.parent / "conf"
CONFIG_PATH = str(_CHECKOUT_CONF) if (_CHECKOUT_CONF / "build.yaml").is_file() else "pkg://genolewm.conf"
# prepare has a config of its own (conf/prepare/), so its keys cannot collide with the build's groups.
PREPARE_CONFIG_PATH = (str(_CHECKOUT_CONF / "prepare") if CONFIG_PATH == str(_CHECKOUT_CONF)
                       else "pkg://genolewm.conf.prepare")
INPUT_PATH_KEYS = ("reference", "gnomad", "clinvar", "holdout_bed", "holdout_keys", "corpus", "regions")


# Each generated schema -> the class or function it was generated from, whose docstrings document its keys.
SCHEMA_SOURCES: dict[type, Any] = {}


def _config_type(hint, where: str):
    """The OmegaConf-supported type of an annotation: primitives, Optional, lists and dicts of them."""
    if hint in (int, float, bool, str):
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return Optional[_config_type(next(a for a in args if a is not type(None)), where)]
    if origin in (list, tuple, frozenset, abc.Sequence):
        return List[_config_type(args[0], where)]
    if origin in (dict, abc.Mapping):
        return Dict[args[0], _config_type(args[1], where)]
    raise TypeError(f"{where}: no config type for {hint!r}")


def schema(target, *, with_target: bool = True, only: tuple[str, ...] | None = None, **override: tuple) -> type:
    """The structured config of ``target`` (a class or factory): ``_target_`` plus one field per parameter.

    Types and defaults come from ``target``'s signature; ``override`` maps a
    parameter to ``(type, default)`` where the config needs another shape.
    ``with_target`` False leaves ``_target_`` out (a plain settings node);
    ``only`` keeps just those parameters.
    """
    function = target.__init__ if inspect.isclass(target) and not dataclasses.is_dataclass(target) else target
    hints = typing.get_type_hints(target if dataclasses.is_dataclass(target) else function)
    name = f"{target.__module__}.{target.__qualname__}"
    public = {"genolewm.providers.", "genolewm.store."}
    for prefix in public:  # packages re-export their classes: name them as users write them
        if name.startswith(prefix):
            name = prefix + target.__qualname__
    fields = [("_target_", str, field(default=name))] if with_target else []
    for param in inspect.signature(target).parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or (only and param.name not in only):
            continue
        if param.name in override:
            kind, default = override[param.name]
        else:
            kind = _config_type(hints[param.name], f"{name}.{param.name}")
            default = "???" if param.default is inspect.Parameter.empty else param.default
        if isinstance(default, (list, dict, tuple, frozenset)):
            fields.append((param.name, kind, field(default_factory=lambda d=default: _plain(d))))
        elif dataclasses.is_dataclass(default):
            fields.append((param.name, kind, field(default_factory=lambda d=default: d)))
        else:
            fields.append((param.name, kind, field(default=default)))
    node = dataclasses.make_dataclass(f"{target.__qualname__.replace('.', '_')}Config", fields)
    SCHEMA_SOURCES[node] = target
    return node


def _plain(value):
    if isinstance(value, (tuple, list, frozenset)):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


MultiEditConfig = schema(MultiEdit, with_target=False)
ShardConfig = schema(Consumer, with_target=False)
TargetConfig = schema(TupleSettings, with_target=False, only=("preserve_length", "pad"))


@dataclass
class BuildConfig:
    """The top level of ``conf/build.yaml``: the run's own settings; the groups fill the rest."""

    seed: int = TupleBuilder.seed
    """Every random draw derives from it (and the window and slot it is for)."""
    split: str = TupleBuilder.split
    """`train`: the windows the holdout keeps; `val`: the windows it removes."""
    edge_margin: int = TupleSettings.edge_margin
    """Edits keep this many bases from both window ends."""
    audit: bool = False
    """Re-check the finished run against its inputs (`genolewm-audit`); a failure leaves `manifest.failed.json`."""
    report: bool = False
    """Write `report.html` (figures and counts) in the run dir (`genolewm-report`)."""
    overwrite: bool = False
    """Replace a finished run in the run dir when the new build completes."""
    workers: int = 1
    """Processes building and writing shards; the files are the same for any number."""
    shard: ShardConfig = field(default_factory=ShardConfig)
    """This run builds the plan's blocks `k` with `k % shard.count == shard.index`."""
    target: TargetConfig = field(default_factory=TargetConfig)
    """How targets keep the window length (`preserve_length`, `pad`)."""
    paths: Any = None
    windows: Any = None
    providers: Any = None
    mix: Any = None
    fallback: Any = None
    holdout: Any = None
    output: Any = None


@dataclass
class PathsConfig:
    """The ``paths`` group: where inputs and outputs live, so no other group hard-codes a location."""

    reference: str = "???"
    """The reference FASTA (indexed), a path or a URL."""
    gnomad: str = "???"
    """The gnomAD sites VCF (bgzipped, tabix-indexed), a path or a URL."""
    clinvar: str = "???"
    """The ClinVar VCF (bgzipped, tabix-indexed), a path or a URL."""
    holdout_bed: str = "???"
    """A BED of held-out intervals (`holdout=intervals`, `holdout=rfc`)."""
    holdout_keys: str = "???"
    """A file of held-out variant keys `chrom:pos:ref:alt` (`holdout=keys`, `holdout=rfc`)."""
    corpus: str = "???"
    """A FASTA/FASTQ corpus of unplaced sequences (`windows=corpus`)."""
    regions: str = "???"
    """A BED of the regions to tile (`windows=regions`)."""
    haplotypes: str = "???"
    """A haplotype panel store made by `genolewm-prepare source=haplotypes` (`providers=with_haplotypes`)."""
    output_root: str = "outputs"
    """Where run dirs (`runs/<date>/<time>`) and sweeps (`multirun/...`) are made."""


@dataclass
class PrepareConfig:
    """The top level of ``conf/prepare/prepare.yaml`` (``genolewm-prepare``); ``paths`` and ``providers`` are
    the build's groups."""

    source: str = "gnomad"
    """The provider whose filter decides what is kept: `gnomad` (= `gnomad_common`), `clinvar`, any VCF provider's
    name, or `haplotypes` (a phased VCF made into a panel store)."""
    input: str = "???"
    """The release VCF, bgzipped or plain: a path or an `https://`, `s3://` or `gs://` URL."""
    output: Optional[str] = None
    """Where the result goes; null: `<run dir>/<source>.prepared.vcf.gz` (+ `.tbi`, `.report.json`), or
    `<run dir>/haplotypes.store`."""
    index: Optional[str] = None
    """The input's `.tbi` where it is not beside the input (a path or a URL)."""
    reference: Optional[str] = None
    """A FASTA to check REF against: alleles that disagree are dropped (or fatal, by `ref_mismatch`)."""
    ref_mismatch: str = "skip"
    """`skip` (counted in the report) or `error`."""
    workers: int = 1
    """Processes preparing parts; the output is the same for any number."""
    part_mb: float = 64.0
    """At most this many compressed MB per part; smaller inputs are cut in 16 (at record starts)."""
    work_dir: str = "${paths.output_root}/prepare/work"
    """Finished parts wait here until the output is whole, so a rerun of a killed prepare resumes."""
    paths: Any = None
    providers: Any = None


SCHEMAS = {
    # contigs: primary | all | a list of names, so the schema cannot type it further.
    "windows": {"reference": schema(ReferenceWindows, contigs=(Any, ReferenceWindows.contigs)),
                "corpus": schema(CorpusWindows),
                "regions": schema(RegionWindows, contigs=(Any, RegionWindows.contigs))},
    # samples: null | a list of names | a file of names.
    "provider": {"vcf": schema(VariantProvider), "synthetic_snv": schema(SyntheticSnv),
                 "synthetic_indel": schema(SyntheticIndel),
                 "haplotypes": schema(HaplotypeProvider, samples=(Any, None))},
    "holdout": {"files": schema(HoldoutPolicy.from_files)},
    "paths": {"paths": PathsConfig},
    # counts has no default here: a mix option lists its sources (merged dicts would keep the defaults').
    "mix": {"mix": schema(Mix, counts=(Dict[str, int], {}),
                          multi_edit=(MultiEditConfig, MultiEditConfig()))},
    "output": {"parquet": schema(ParquetFormat), "arrays": schema(ArraysFormat)},
}


def register() -> None:
    """Put every schema into Hydra's ConfigStore (``schema/<group>/<name>``, and ``build_schema``)."""
    store = ConfigStore.instance()
    store.store(name="build_schema", node=BuildConfig)
    store.store(name="prepare_schema", node=PrepareConfig)
    for group, nodes in SCHEMAS.items():
        for name, node in nodes.items():
            store.store(group=f"schema/{group}", name=name, node=node)


register()


def one_line(exc: BaseException) -> str:
    """A Hydra/OmegaConf error as one line naming the key (and Hydra's hint or options, when it gives them)."""
    def lines(error: BaseException) -> list[str]:
        text = str(error).split("Config search path:")[0]
        # OmegaConf appends "full_key: ...", "object_type=..." detail lines; the key is named already.
        return [line.strip() for line in text.splitlines() if line.strip()
                and not line.strip().startswith(("full_key:", "object_type=", "reference_type="))]

    parts = lines(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OmegaConfBaseException):
        parts += [line for line in lines(cause) if line not in parts]
    return "; ".join(part.rstrip(".:") for part in parts) or type(exc).__name__


def _missing_message(cfg: DictConfig, exc: MissingMandatoryValue) -> str:
    """Name the key the user must set: the paths.* key a node interpolates, or the node itself."""
    source = OmegaConf.to_container(cfg, resolve=False)
    for part in str(exc.full_key).split("."):
        source = source.get(part) if isinstance(source, dict) else None
    key = source[2:-1] if isinstance(source, str) and source.startswith("${") else exc.full_key
    return f"{key} is required here but not set (???); pass it on the command line, e.g. {key}=/path/to/file"


def build_node(cfg: DictConfig, key: str, role: type | None = None):
    """Instantiate ``cfg[key]``, errors named by config key on one line; check it plays ``role``."""
    node = OmegaConf.select(cfg, key)
    try:
        value = instantiate(node, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, GenolewmError):
            raise cause
        raise ConfigError(f"{key}: {cause or exc}".replace("\n", " ")) from exc
    except MissingMandatoryValue as exc:
        raise ConfigError(_missing_message(cfg, exc)) from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key}: {str(exc).splitlines()[0]}") from exc
    if role is not None and not isinstance(value, role):
        raise ConfigError(f"{key}: {node.get('_target_')} does not make a {role.__name__} "
                          f"(see genolewm.types.{role.__name__})")
    return value


def absolute_paths(cfg: DictConfig) -> None:
    """Resolve relative input paths against the launch directory, once; URLs stay as they are."""
    for key in INPUT_PATH_KEYS:
        if key in cfg.paths and not OmegaConf.is_missing(cfg.paths, key) and cfg.paths[key] is not None:
            cfg.paths[key] = where(os.path.expanduser(str(cfg.paths[key])))


def make_builder(cfg: DictConfig) -> tuple[TupleBuilder, RunWriter]:
    """Instantiate every group and check them together before any work starts."""
    windows = build_node(cfg, "windows", WindowSource)
    providers = {str(name): build_node(cfg, f"providers.{name}", EditProvider) for name in cfg.providers}
    settings = TupleSettings(
        mix=build_node(cfg, "mix", Mix), fallback_sources=build_node(cfg, "fallback", Fallbacks),
        holdouts=build_node(cfg, "holdout", Holdout), preserve_length=cfg.target.preserve_length,
        pad=cfg.target.pad, edge_margin=cfg.edge_margin,
    )
    builder = TupleBuilder(windows=windows, providers=providers, seed=cfg.seed, settings=settings, split=cfg.split)
    return builder, build_node(cfg, "output", RunWriter)


class Interrupted(BaseException):
    """The command was asked to stop (SIGTERM); raised where it runs so that staging is cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


def hydra_command(task, prog: str) -> None:
    """Run a ``@hydra.main`` task as a command: every failure is one line on stderr and an exit status.

    A config Hydra cannot compose, or a run dir refused before the build
    starts, exits 2; SIGINT and SIGTERM end the build cleanly (staging and
    workers removed) with 130 and 143. Hydra prints its own multi-line report
    unless ``HYDRA_FULL_ERROR`` is set, which makes it raise instead: it is
    set for this call, so the error can be turned into one line here. A user
    who set it to 1 keeps Hydra's traceback.
    """
    before = os.environ.get("HYDRA_FULL_ERROR")
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        if before == "1":
            task()
            return
        os.environ["HYDRA_FULL_ERROR"] = "1"
        task()
    except (HydraException, OmegaConfBaseException) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except (Abort, GenolewmError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"{prog}: interrupted by {signal.Signals(signum).name}; nothing was published", file=sys.stderr)
        sys.exit(128 + signum)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def known_targets() -> set[str]:
    """The ``_target_`` of every component a build's config can name: the group schemas' and the fallbacks'."""
    targets = {f"{Fallbacks.__module__}.{Fallbacks.__qualname__}"}
    for nodes in SCHEMAS.values():
        targets.update(t for t in map(target_of, nodes.values()) if t is not None)
    return targets


def target_of(node: type) -> str | None:
    """The ``_target_`` a schema's nodes build (None: a plain settings node)."""
    return next((f.default for f in dataclasses.fields(node) if f.name == "_target_"), None)


# config.yaml is a few kB; a larger one is not a run's config.
MAX_CONFIG_BYTES = 4 << 20


def load_run_config(run_dir: str | os.PathLike) -> tuple[str, DictConfig]:
    """A finished run's ``config.yaml`` (text and config), read as data: a build writes it resolved, so an
    interpolation (a resolver such as ``${oc.env:...}``) is refused, never resolved, and a ``_target_`` that
    is not one of genolewm's components (`known_targets`) is refused, never imported. Only then may
    the caller instantiate it (the audit does, to re-derive what it checks)."""
    from .store.manifest import inside

    path = inside(run_dir, Path(run_dir) / "config.yaml")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"over {MAX_CONFIG_BYTES >> 20} MB")
        text = path.read_text()
        cfg = OmegaConf.create(text)
        plain = OmegaConf.to_container(cfg, resolve=False)
    except FileNotFoundError as exc:
        raise ConfigError(f"{run_dir}: no config.yaml to read") from exc
    except (OSError, ValueError, RecursionError, OmegaConfBaseException) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: cannot be read as a run's config ({detail})") from exc
    if not isinstance(plain, dict):
        raise ConfigError(f"{path}: not a mapping of config groups")
    allowed = known_targets()

    def walk(node, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                where = f"{key}.{k}" if key else str(k)
                if k == "_target_" and v not in allowed:
                    raise ConfigError(f"{path}: {where}={v!r} is not a genolewm component; a run's config is "
                                      "not instantiated with it")
                walk(v, where)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{key}[{i}]")
        elif isinstance(node, str) and "${" in node:
            raise ConfigError(f"{path}: {key}={node!r} is an interpolation; a finished run's config holds values "
                              "only, so it is not resolved")

    walk(plain, "")
    return text, cfg
