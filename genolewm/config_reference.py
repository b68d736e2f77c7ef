"""The config reference: every group, option and key of ``conf/``, as Markdown, generated from the schemas.

Keys, types and defaults come from the structured configs of
`genolewm.config` (themselves generated from the components'
signatures); each key's description is the docstring of the field or
parameter it comes from, read with griffe (the docstring reader of
mkdocstrings: ``pip install genolewm[docs]``). Options are the YAML files of
each group, described by their leading comment. The docs site builds its
config reference page from `markdown`, so the page cannot drift from
the code; ``python -m genolewm.config_reference`` prints it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from .config import CONFIG_PATH, SCHEMA_SOURCES, SCHEMAS, BuildConfig, PrepareConfig, target_of
from .mix import Fallbacks

# The build's groups in the order of conf/build.yaml's defaults list, then the ones with no schema.
GROUPS = ("paths", "windows", "providers", "mix", "fallback", "holdout", "output", "experiment", "hydra/launcher")
SCHEMA_GROUP = {"providers": "provider"}  # the ConfigStore group of a config group's schemas, where they differ
# Keys whose node is a mapping of names the user chooses, shown as <placeholder>.
NAMED = {"providers": "name", "fallback": "source"}


@dataclass(frozen=True)
class Row:
    """One key: its dotted path (``<name>`` for a name the user chooses), type, default and description.
    ``target`` is the ``_target_`` of the node it belongs to (None: a plain settings node); ``config`` is
    ``build`` or ``prepare``."""

    key: str
    type: str
    default: str
    description: str
    target: str | None
    config: str


@dataclass(frozen=True)
class Option:
    """One YAML file of a group: its name, its leading comment paragraph, and the YAML it holds."""

    name: str
    description: str
    text: str


@dataclass(frozen=True)
class Section:
    """A table of rows under a heading, and the options of its group (a group's own section only)."""

    title: str
    intro: str
    rows: tuple[Row, ...]
    options: tuple[Option, ...] = ()
    level: int = 2


@functools.lru_cache(maxsize=1)
def _package():
    import griffe  # the docs extra: needed only to generate the reference

    return griffe.load("genolewm", docstring_parser="google")


def _object(source):
    path = f"{source.__module__}.{source.__qualname__}".removeprefix("genolewm.")
    return _package()[path]


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _descriptions(source) -> dict[str, str]:
    """Field or parameter name -> its docstring: attribute docstrings of a class, the ``Args:`` of a function."""
    obj = _object(source)
    if obj.is_function:
        sections = obj.docstring.parse("google") if obj.docstring else []
        return {p.name: _one_line(p.description) for s in sections if s.kind.value == "parameters" for p in s.value}
    return {name: _one_line(member.docstring.value) for name, member in obj.all_members.items()
            if member.is_attribute and member.docstring}


def summary(source) -> str:
    """The first paragraph of ``source``'s docstring, on one line."""
    doc = _object(source).docstring
    return _one_line(doc.value.split("\n\n")[0]) if doc else ""


def type_name(hint) -> str:
    """A schema field's type as YAML users read it: ``int``, ``float | null``, ``list[str]``."""
    if hint is Any:
        return "any"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is list:
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"dict[{type_name(args[0])}, {type_name(args[1])}]"
    return getattr(hint, "__name__", str(hint))


def _source_type(source, name: str) -> str:
    """The annotation written in the source, for keys the schema cannot type further (``any``)."""
    obj = _object(source)
    member = None if obj.is_function else obj.all_members.get(name)
    annotation = str(member.annotation) if member is not None else ""
    annotation = annotation.replace("None", "null").replace("Sequence", "list")
    return annotation or "any"


def show_default(value) -> str:
    if value == MISSING:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_default(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_default(v)}" for k, v in value.items()) + "}"
    if dataclasses.is_dataclass(value):
        return show_default(dataclasses.asdict(value))
    return str(value) if value != "" else '""'


def _default(f: dataclasses.Field):
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def schema_rows(node: type, prefix: str, target: str | None, config: str, source=None,
                skip: tuple[str, ...] = ()) -> list[Row]:
    """The rows of one schema's keys under ``prefix``; a nested schema's keys follow its own row."""
    source = source or SCHEMA_SOURCES.get(node, node)
    docs = _descriptions(source)
    hints = typing.get_type_hints(node)
    rows = []
    for f in dataclasses.fields(node):
        if f.name == "_target_" or f.name in skip:
            continue
        hint = hints[f.name]
        kind = "mapping" if dataclasses.is_dataclass(hint) else type_name(hint)
        if kind == "any":
            kind = _source_type(source, f.name)
        default = _default(f)
        rows.append(Row(prefix + f.name, kind, show_default(default), docs.get(f.name, ""), target, config))
        if dataclasses.is_dataclass(hint):
            rows += schema_rows(hint, f"{prefix}{f.name}.", target, config)
    return rows


def options(group: str, conf: Path) -> list[Option]:
    """Each YAML file of ``group``, described by its leading comment paragraph."""
    out = []
    for path in sorted((conf / group).glob("*.yaml")):
        text = path.read_text()
        lines = []
        for line in text.splitlines():
            if not line.startswith("#") or line.rstrip() == "#":
                break
            if not line.startswith("# @package"):
                lines.append(line.lstrip("# ").rstrip())
        out.append(Option(path.stem, _one_line(" ".join(lines)), text.strip()))
    return out


def conf_dir() -> Path:
    """The build's config directory: a checkout's ``conf/``, or the installed package's copy."""
    if CONFIG_PATH.startswith("pkg://"):
        return Path(str(importlib.resources.files(CONFIG_PATH.removeprefix("pkg://"))))
    return Path(CONFIG_PATH)


def sections(conf: Path | None = None) -> list[Section]:
    """Every section of the reference: the build's top level, each group, then ``genolewm-prepare``."""
    conf = conf or conf_dir()
    top = schema_rows(BuildConfig, "", None, "build", skip=GROUPS)
    out = [Section("Top level (`conf/build.yaml`)", summary(BuildConfig), tuple(top))]
    for group in GROUPS:
        fallback = [Row("fallback.<source>", "str | null", "see the options", summary(Fallbacks),
                        f"{Fallbacks.__module__}.{Fallbacks.__qualname__}", "build")] if group == "fallback" else []
        out.append(Section(group, f"`{group}=<option>` picks one of these:", tuple(fallback),
                           tuple(options(group, conf))))
        for node in SCHEMAS.get(SCHEMA_GROUP.get(group, group), {}).values():
            target = target_of(node)
            prefix = f"{group}.<{NAMED[group]}>." if group in NAMED else f"{group}."
            out.append(Section(f"{group}: " + (f"`{target}`" if target else "keys"),
                               summary(SCHEMA_SOURCES.get(node, node)),
                               tuple(schema_rows(node, prefix, target, "build")), level=3))
    prepare = schema_rows(PrepareConfig, "", None, "prepare", skip=("paths", "providers"))
    out.append(Section("genolewm-prepare (`conf/prepare/prepare.yaml`)",
                       summary(PrepareConfig) + " Its `paths` and `providers` are the build's groups, above.",
                       tuple(prepare)))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(conf: Path | None = None) -> str:
    """The whole reference page."""
    parts = [
        "# Config reference",
        "",
        "Generated from the structured-config schemas and the docstrings of the classes they are made from "
        "(`genolewm.config_reference`), so it always matches the code. Override any key on the command line "
        "(`windows.stride_bp=4096`); a wrong type or a misspelt key stops before any work starts.",
        "",
    ]
    for section in sections(conf):
        parts += [f"{'#' * section.level} {section.title}", "", section.intro, ""]
        for option in section.options:
            group = section.title
            parts += [f"- `{group}={option.name}`" + (f": {option.description}" if option.description else "")]
        if section.options:
            parts.append("")
        for option in section.options:
            parts += [f'??? example "conf/{section.title}/{option.name}.yaml"', "", "    ```yaml"]
            parts += [f"    {line}".rstrip() for line in option.text.splitlines()] + ["    ```", ""]
        if section.rows:
            parts += ["| key | type | default | description |", "|---|---|---|---|"]
            parts += [f"| `{r.key}` | `{_cell(r.type)}` | `{_cell(r.default)}` | {_cell(r.description)} |"
                      for r in section.rows]
            parts.append("")
    return "\n".join(parts)


def rows(conf: Path | None = None) -> list[Row]:
    return [row for section in sections(conf) for row in section.rows]


def main() -> None:
    try:
        text = markdown()
    except ModuleNotFoundError as exc:  # griffe comes with the docs extra
        sys.exit(f"genolewm.config_reference: error: {exc.name} is missing: pip install 'genolewm[docs]'")
    print(text)


if __name__ == "__main__":
    main()
