"""Edit providers (`EditProvider`): where a window's edits come from.

- `.synthetic`: uniform SNVs and truncated-geometric indels;
- `.vcf`: a tabix-indexed VCF (or in-memory variants) through an allele filter;
- `.haplotypes`: whole tuples of one haplotype's alleles, from a panel store (`.panel`);
- `.filters`: the allele predicates a variant source composes;
- `.base`: sampling helpers and seed-style callables as providers.
"""

from .base import FunctionProvider
from .filters import AlleleFilter, ClnsigIn, EditTypeIn, MinAf, PassOnly
from .haplotypes import HaplotypeProvider
from .panel import PanelStore, write_panel_store
from .synthetic import SyntheticIndel, SyntheticSnv, synthetic_indel_provider, synthetic_snv_provider
from .vcf import REF_MISMATCH_POLICIES, InMemoryVariants, VariantProvider, open_indexed_vcf_check, variant_provider

__all__ = [
    "AlleleFilter", "ClnsigIn", "EditTypeIn", "FunctionProvider", "HaplotypeProvider", "InMemoryVariants", "MinAf",
    "PanelStore", "PassOnly",
    "REF_MISMATCH_POLICIES", "SyntheticIndel", "SyntheticSnv", "VariantProvider", "open_indexed_vcf_check",
    "synthetic_indel_provider", "synthetic_snv_provider", "variant_provider", "write_panel_store",
]
