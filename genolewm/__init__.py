"""genolewm: training tuples (reference window, edits, target window) for genomic world models.

The seed's names are here: the value types and protocols (`genolewm.types`),
the builder, the holdout, the mix, the providers and the window sources.
"""

from .builder import TupleBuilder, TupleSettings, build_training_tuples
from .edits import apply_edits
from .errors import ConfigError, ContractError, EditError, GenolewmError, InputError, ShortfallError
from .holdout import HoldoutPolicy
from .mix import DEFAULT_EDIT_SOURCE_COUNTS, DEFAULT_SOURCE_FALLBACKS, Fallbacks, Mix, MultiEdit
from .providers import (
    FunctionProvider,
    InMemoryVariants,
    SyntheticIndel,
    SyntheticSnv,
    VariantProvider,
    synthetic_indel_provider,
    synthetic_snv_provider,
    variant_provider,
)
from .types import (
    Draw,
    EditProvider,
    EditType,
    EditSourceCount,
    Holdout,
    HoldoutInterval,
    RelEdit,
    RunReader,
    RunWriter,
    TrainingDatasetItem,
    TrainingTuple,
    WindowContext,
    WindowSource,
)
from .tuples import TupleBlock
from .windows import CorpusWindows, ReferenceWindows, RegionWindows, WindowList

__all__ = [
    "ConfigError", "ContractError", "CorpusWindows", "DEFAULT_EDIT_SOURCE_COUNTS", "DEFAULT_SOURCE_FALLBACKS", "Draw",
    "EditError", "EditProvider", "EditType", "EditSourceCount", "Fallbacks", "FunctionProvider", "GenoLeWMDataset",
    "GenolewmError", "Holdout", "HoldoutInterval", "HoldoutPolicy", "InMemoryVariants", "InputError", "Mix",
    "MultiEdit", "ReferenceWindows", "RegionWindows", "RelEdit", "RunReader", "RunWriter", "ShortfallError",
    "SyntheticIndel", "SyntheticSnv", "TrainingDatasetItem", "TrainingTuple", "TupleBlock", "TupleBuilder",
    "TupleSettings", "VariantProvider", "WindowContext", "WindowList", "WindowSource", "apply_edits",
    "build_training_tuples", "synthetic_indel_provider", "synthetic_snv_provider", "variant_provider",
]


def __getattr__(name: str):
    # The dataset pulls in torch; import it only when asked for.
    if name == "GenoLeWMDataset":
        from .dataset import GenoLeWMDataset

        return GenoLeWMDataset
    raise AttributeError(f"module 'genolewm' has no attribute {name!r}")
