"""genolewm: training tuples (reference window, edits, target window) for genomic world models."""

from .builder import TrainingTuple, TupleBuilder, build_training_tuples
from .edits import RelEdit, apply_edits
from .errors import ConfigError, EditError, GenolewmError, InputError, ShortfallError
from .holdout import HoldoutInterval, HoldoutPolicy
from .mix import DEFAULT_EDIT_SOURCE_COUNTS, DEFAULT_SOURCE_FALLBACKS, EditSourceCount
from .providers import (
    SyntheticIndel,
    SyntheticSnv,
    VariantProvider,
    synthetic_indel_provider,
    synthetic_snv_provider,
    variant_provider,
)
from .windows import CorpusWindows, ReferenceWindows, WindowContext

__all__ = [
    "GenoLeWMDataset", "ConfigError", "CorpusWindows", "DEFAULT_EDIT_SOURCE_COUNTS", "DEFAULT_SOURCE_FALLBACKS", "EditError",
    "EditSourceCount", "GenolewmError", "HoldoutInterval", "HoldoutPolicy", "InputError", "RelEdit",
    "ReferenceWindows", "ShortfallError", "SyntheticIndel", "SyntheticSnv", "TrainingTuple", "TupleBuilder",
    "VariantProvider", "WindowContext", "apply_edits", "build_training_tuples", "synthetic_indel_provider",
    "synthetic_snv_provider", "variant_provider",
]


def __getattr__(name: str):
    # The dataset pulls in torch; import it only when asked for.
    if name == "GenoLeWMDataset":
        from .dataset import GenoLeWMDataset

        return GenoLeWMDataset
    raise AttributeError(f"module 'genolewm' has no attribute {name!r}")
