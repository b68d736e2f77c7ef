#!/usr/bin/env bash
# Real files some tests read when they are present (they skip, naming this script, when not): fetched
# from Debian's archive, the only download, as .ci/run does. Needs apt (as root).
#   tests/external/chr22.vcf.gz(.tbi): 1000 Genomes phase 1, a chr22 region (contig 22), 5 samples with
#   phased GT, as Bioconductor's VariantAnnotation ships it (Debian package r-bioc-variantannotation).
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/tests/external"
[ -s "$out/chr22.vcf.gz" ] && [ -s "$out/chr22.vcf.gz.tbi" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chown _apt "$work" 2>/dev/null || true  # apt downloads as its own user where it can
(cd "$work" && apt-get download -qq r-bioc-variantannotation)
dpkg -x "$work"/r-bioc-variantannotation_*.deb "$work/x"
mkdir -p "$out"
cp "$work"/x/usr/lib/R/site-library/VariantAnnotation/extdata/chr22.vcf.gz "$out/"
cp "$work"/x/usr/lib/R/site-library/VariantAnnotation/extdata/chr22.vcf.gz.tbi "$out/"
