"""Small files shaped like the releases researchers download: GRCh38 FASTAs (NCBI analysis set, UCSC,
Ensembl, GATK bundle, RefSeq names), gnomAD v4.1 sites VCFs (genomes, exomes, joint) and the ClinVar
weekly VCF.

Shapes kept from the real files: names and header lines, FASTA header words after the name, soft-masking,
N gaps, IUPAC codes other than N (NCBI and GATK; N in the others), 3,000+ contigs in the GATK bundle, gnomAD's
``chr`` names, one ALT per line, two lines at one POS with different REFs, FILTER
``AC0``/``AS_VQSR``/``InbreedingCoeff`` and their combinations, ``AF_joint`` and no ``AF`` in the joint
files, kilobytes of INFO per record (``vep``), REF at an IUPAC base as the first base it stands for;
ClinVar's ``1``..``MT`` plus ``NT_``/``NW_`` contigs, no ``##contig`` lines, QUAL and FILTER ``.``,
its CLNSIG vocabulary (``/``, ``|``, comma-containing terms), ONC-only records and ALT ``N`` and ``.``.
Sequences are short so that CI builds them in seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pysam

CHROMOSOMES = ("1", "2", "8", "21", "X", "Y")
CHROM_BP = 40_000
# IUPAC codes placed on the chromosomes of the NCBI and GATK FASTAs: (chromosome, 0-based offset, code).
IUPAC = (("1", 20_000, "M"), ("1", 20_050, "R"), ("2", 15_000, "Y"), ("8", 21_000, "K"), ("8", 21_001, "S"),
         ("21", 18_000, "W"), ("X", 22_000, "B"), ("X", 30_500, "r"))
IUPAC_BASES = {"M": "AC", "R": "AG", "Y": "CT", "K": "GT", "S": "CG", "W": "AT", "B": "CGT"}
MD5 = "6aef897c3d6ff0c78aff06ac189178dd"


def _sequence(rng: random.Random, n: int, gaps: bool) -> str:
    """Random bases, about half soft-masked (lowercase) in runs; telomere-like N runs at both ends."""
    out, i = [], 0
    while i < n:
        run = rng.randint(200, 3_000)
        bases = "".join(rng.choice("ACGT") for _ in range(min(run, n - i)))
        out.append(bases.lower() if rng.random() < 0.5 else bases)
        i += run
    seq = "".join(out)[:n]
    return ("N" * 500 + seq[500:-500] + "N" * 500) if gaps else seq


def chrom_name(style: str, chrom: str) -> str:
    if style == "ensembl":
        return "MT" if chrom == "M" else chrom
    if style == "refseq":
        number = {"X": 23, "Y": 24}.get(chrom) or int(chrom)
        return f"NC_{number:06d}.{10 + number % 3}"
    return f"chr{chrom}"


def _header(style: str, name: str, length: int, kind: str) -> str:
    if style == "ncbi":
        return f">{name}  AC:CM000663.2  gi:568336023  LN:{length}  rl:{kind}  M5:{MD5}  AS:GRCh38"
    if style == "gatk":
        return f">{name}  LN:{length}  rl:{kind}  M5:{MD5}  AS:GRCh38"
    if style == "ensembl":
        return f">{name} dna_sm:{kind.lower()} {kind.lower()}:GRCh38:{name}:1:{length}:1 REF"
    if style == "refseq":
        return f">{name} Homo sapiens chromosome, GRCh38.p14 Primary Assembly"
    return f">{name}"


def _others(style: str, decoys: int) -> list[tuple[str, int, str]]:
    """(name, length, kind) of the sequences besides the chromosomes; a few long enough to tile."""
    if style == "ensembl":
        return [("MT", 16_569, "chromosome"), ("KI270728.1", 1_872, "scaffold"), ("GL000009.2", 20_000, "scaffold")]
    if style == "refseq":
        return [("NC_012920.1", 16_569, "chromosome"), ("NT_187361.1", 18_000, "scaffold")]
    out = [("chrM", 16_569, "Mitochondrion"), ("chr1_KI270706v1_random", 17_000, "unlocalized"),
           ("chrUn_KI270302v1", 2_274, "unplaced"), ("chrEBV", 20_000, "decoy")]
    if style in ("ucsc", "gatk"):
        out += [("chr1_KI270762v1_alt", 25_000, "alt-scaffold"), ("chr8_KI270821v1_alt", 985, "alt-scaffold")]
    if style == "ucsc":
        out += [("chr22_KN196486v1_fix", 15_000, "fix-patch")]
    if style == "gatk":
        out += [("chrUn_JTFH01000001v1_decoy", 25_139, "decoy"), ("HLA-A*01:01:01:01", 14_000, "HLA")]
        out += [(f"chrUn_JTFH01{k:06d}v1_decoy", 300 + k % 700, "decoy") for k in range(2, decoys + 2)]
        out += [(f"HLA-{gene}*{k:02d}:01:01:{k:02d}", 3_000, "HLA")
                for gene in ("A", "B", "C", "DRB1") for k in range(1, 40)]
    return out


@dataclass
class Reference:
    path: str
    style: str
    chromosomes: dict[str, str]  # bare name (1, X) -> the FASTA's name
    sequences: dict[str, str] = field(repr=False)  # FASTA name -> bases as written

    def upper(self, bare: str) -> str:
        return self.sequences[self.chromosomes[bare]].upper()


def grch38_fasta(directory: Path, style: str = "ncbi", *, decoys: int = 2_850, seed: int = 0) -> Reference:
    """A GRCh38-shaped FASTA (faidx-indexed) in one of the releases' styles: ``ncbi`` (analysis set,
    no-alt), ``ucsc`` (hg38 with alts), ``ensembl`` (``dna_sm``, ``1`` and ``MT``), ``gatk``
    (Homo_sapiens_assembly38: alts, ``decoys`` decoys, HLA) or ``refseq`` (``NC_`` accessions)."""
    rng = random.Random(seed)
    file_name = {"ncbi": "GCA_000001405.15_GRCh38_no_alt_analysis_set.fna", "ucsc": "hg38.fa",
                 "ensembl": "Homo_sapiens.GRCh38.dna_sm.primary_assembly.fa",
                 "gatk": "Homo_sapiens_assembly38.fasta", "refseq": "GCF_000001405.40_GRCh38.p14_genomic.fna"}[style]
    path = Path(directory) / file_name
    chromosomes = {c: chrom_name(style, c) for c in CHROMOSOMES}
    sequences: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for bare, name in chromosomes.items():
        seq = list(_sequence(rng, CHROM_BP, gaps=True))
        for chrom, at, code in IUPAC:  # UCSC, Ensembl and RefSeq have N where the analysis sets have a code
            if chrom == bare:
                seq[at] = code if style in ("ncbi", "gatk") else "N"
        sequences[name], kinds[name] = "".join(seq), "Chromosome"
    for name, length, kind in _others(style, decoys):
        sequences[name], kinds[name] = _sequence(rng, length, gaps=False), kind
    with open(path, "w") as out:
        for name, seq in sequences.items():
            out.write(_header(style, name, len(seq), kinds[name]) + "\n")
            out.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    pysam.faidx(str(path))
    return Reference(str(path), style, chromosomes, sequences)


# gnomAD v4.1: the INFO keys of the sites VCFs (a selection; the real header declares ~900).
POPS = ("afr", "amr", "asj", "eas", "fin", "mid", "nfe", "sas", "remaining")
VEP_FORMAT = ("Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|HGVSp|"
              "cDNA_position|CDS_position|Protein_position|Amino_acids|Codons|ALLELE_NUM|DISTANCE|STRAND|FLAGS|"
              "VARIANT_CLASS|SYMBOL_SOURCE|HGNC_ID|CANONICAL|MANE_SELECT|MANE_PLUS_CLINICAL|TSL|APPRIS|CCDS|ENSP|"
              "UNIPROT_ISOFORM|SOURCE|DOMAINS|miRNA|HGVS_OFFSET|PUBMED|MOTIF_NAME|MOTIF_POS|HIGH_INF_POS|"
              "MOTIF_SCORE_CHANGE|TRANSCRIPTION_FACTORS|LoF|LoF_filter|LoF_flags|LoF_info")


def _gnomad_keys(kind: str) -> list[tuple[str, str, str]]:
    """(key, Number, Type) of the INFO keys, in the release's order."""
    suffix = "_joint" if kind == "joint" else ""
    keys = [(f"AC{suffix}", "A", "Integer"), (f"AN{suffix}", "1", "Integer"), (f"AF{suffix}", "A", "Float"),
            (f"nhomalt{suffix}", "A", "Integer")]
    for pop in POPS:
        for sex in ("", "_XX", "_XY"):
            keys += [(f"AC{suffix}_{pop}{sex}", "A", "Integer"), (f"AN{suffix}_{pop}{sex}", "1", "Integer"),
                     (f"AF{suffix}_{pop}{sex}", "A", "Float"), (f"nhomalt{suffix}_{pop}{sex}", "A", "Integer")]
    keys += [(f"grpmax{suffix}", "A", "String"), (f"AF_grpmax{suffix}", "A", "Float"),
             (f"fafmax_faf95_max{suffix}", "A", "Float"), (f"fafmax_faf95_max_gen_anc{suffix}", "A", "String")]
    if kind != "joint":
        keys += [("FS", "1", "Float"), ("MQ", "1", "Float"), ("QD", "1", "Float"), ("InbreedingCoeff", "A", "Float"),
                 ("AS_VQSLOD", "A", "Float"), ("allele_type", "A", "String"), ("n_alt_alleles", "1", "Integer"),
                 ("variant_type", "1", "String"), ("cadd_phred", "A", "Float"), ("revel_max", "1", "Float")]
    keys += [("vep", ".", "String")]
    return keys


@dataclass
class Site:
    """One gnomAD line: 0-based start, REF, ALT, allele frequency, FILTER."""

    chrom: str
    start: int
    ref: str
    alt: str
    af: float
    filter: str = "PASS"


def gnomad_sites(reference: Reference, *, per_chrom: int = 160, seed: int = 1) -> list[Site]:
    """Sites on the reference's chromosomes: SNVs, insertions and deletions with REF as the reference
    has it (an IUPAC base as the first base it stands for), AF from 1e-5 to 0.6, gnomAD's FILTER values,
    and at some positions a second line with another REF (a deletion beside an SNV)."""
    rng = random.Random(seed)
    filters = ("PASS",) * 12 + ("AC0", "AS_VQSR", "InbreedingCoeff", "AC0;AS_VQSR", "AS_VQSR;InbreedingCoeff")
    sites: list[Site] = []
    for bare in CHROMOSOMES:
        seq = reference.upper(bare)
        name = f"chr{bare}"
        codes = {at for chrom, at, _ in IUPAC if chrom == bare}
        positions = sorted(rng.sample(range(600, CHROM_BP - 600), per_chrom) + sorted(codes))
        for start in positions:
            base = seq[start]
            if base == "N" and start not in codes:
                continue
            if start in codes:  # REF is the first base the analysis set's code stands for
                base = next(code.upper() for chrom, at, code in IUPAC if chrom == bare and at == start)
            ref = IUPAC_BASES[base][0] if base in IUPAC_BASES else base
            af = 10 ** rng.uniform(-5, -0.2)
            flt = rng.choice(filters)
            if start in codes:  # common and PASS, so that the REF check is what decides
                af, flt = 0.2, "PASS"
            shape = rng.random()
            if shape < 0.7 or start in codes:
                sites.append(Site(name, start, ref, rng.choice([b for b in "ACGT" if b != ref]), af, flt))
            elif shape < 0.85:
                sites.append(Site(name, start, ref, ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6))),
                                  af, flt))
            else:
                span = seq[start : start + rng.randint(2, 8)]
                if "N" not in span:
                    sites.append(Site(name, start, span, span[0], af, flt))
            if rng.random() < 0.1 and "N" not in seq[start : start + 4]:  # a second REF at the same POS
                sites.append(Site(name, start, seq[start : start + 4], seq[start], af / 3, "PASS"))
    return sites


def _vep(rng: random.Random, alt: str, transcripts: int) -> str:
    entries = []
    for k in range(transcripts):
        fields = [alt, rng.choice(("intron_variant", "missense_variant", "upstream_gene_variant&NMD_transcript_variant",
                                   "synonymous_variant")), rng.choice(("MODIFIER", "LOW", "MODERATE")),
                  f"GENE{k % 7}", f"ENSG{rng.randint(10**10, 10**11):011d}", "Transcript",
                  f"ENST{rng.randint(10**10, 10**11):011d}", "protein_coding", f"{k % 9 + 1}/12", "",
                  f"ENST{k:011d}.5:c.{rng.randint(1, 3000)}A>G", "", str(rng.randint(1, 5000)), "", "", "", "", "1",
                  "", "1", "", "SNV", "HGNC", f"HGNC:{rng.randint(1, 50000)}", "YES" if k == 0 else "",
                  f"NM_{rng.randint(1, 999999):06d}.4" if k == 0 else "", "", "1", "P1", f"CCDS{k}.1",
                  f"ENSP{rng.randint(10**10, 10**11):011d}", "", "Ensembl",
                  "PANTHER:PTHR12345&Gene3D:3.40.50.300&Pfam:PF00001", "", "", "", "", "", "", "", "", "", "", ""]
        entries.append("|".join(fields))
    return ",".join(entries)


def gnomad_vcf(directory: Path, reference: Reference, kind: str = "joint", sites: list[Site] | None = None,
               *, transcripts: int = 5, seed: int = 2) -> tuple[str, list[Site]]:
    """A gnomAD v4.1 sites VCF (``gnomad.{kind}.v4.1.sites.vcf.bgz`` + ``.tbi``), ``kind`` one of
    ``joint``, ``genomes`` or ``exomes``; ~``transcripts`` KB of INFO per line."""
    rng = random.Random(seed)
    sites = gnomad_sites(reference) if sites is None else sites
    keys = _gnomad_keys(kind)
    lines = ["##fileformat=VCFv4.2"]
    lines += ['##FILTER=<ID=PASS,Description="All filters passed">',
              '##FILTER=<ID=AC0,Description="Allele count is zero after filtering out low-confidence genotypes">',
              '##FILTER=<ID=AS_VQSR,Description="Failed VQSR filtering thresholds">',
              '##FILTER=<ID=InbreedingCoeff,Description="GATK InbreedingCoeff < -0.3">']
    for key, number, type_ in keys:
        description = ("Consequence annotations from Ensembl VEP. Format: " + VEP_FORMAT if key == "vep"
                       else f"{key} in the {kind} gnomAD v4.1 callset")
        lines.append(f'##INFO=<ID={key},Number={number},Type={type_},Description="{description}">')
    lines += [f"##contig=<ID=chr{c},length={CHROM_BP}>" for c in CHROMOSOMES]
    lines += ["##contig=<ID=chrM,length=16569>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    af_key = "AF_joint" if kind == "joint" else "AF"
    order = {f"chr{c}": i for i, c in enumerate(CHROMOSOMES)}
    for site in sorted(sites, key=lambda s: (order[s.chrom], s.start)):
        an = 152_312
        info = []
        for key, number, type_ in keys:
            if key == af_key:
                value = f"{site.af:.5e}"
            elif key == "vep":
                value = _vep(rng, site.alt, transcripts)
            elif type_ == "Float":
                value = f"{rng.random():.5e}"
            elif type_ == "Integer":
                value = str(an if key.startswith("AN") else int(site.af * an))
            else:
                value = rng.choice(POPS)
            info.append(f"{key}={value}")
        if kind != "joint" and site.chrom in ("chrX", "chrY"):
            info.insert(-1, "non_par")
        qual = "." if kind == "joint" else f"{rng.uniform(30, 9000):.2f}"
        lines.append(f"{site.chrom}\t{site.start + 1}\t.\t{site.ref}\t{site.alt}\t{qual}\t{site.filter}\t"
                     + ";".join(info))
    if kind != "joint":
        lines.insert(5, '##INFO=<ID=non_par,Number=0,Type=Flag,Description="Variant outside PAR">')
    path = Path(directory) / f"gnomad.{kind}.v4.1.sites.vcf"
    path.write_text("\n".join(lines) + "\n")
    bgz = pysam.tabix_index(str(path), preset="vcf", force=True)
    final = str(path) + ".bgz"
    Path(bgz).rename(final)
    Path(bgz + ".tbi").rename(final + ".tbi")
    return final, sites


# ClinVar weekly: its CLNSIG classifications (germline), as they appear in the file.
CLNSIG_VALUES = (
    "Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic", "Pathogenic|risk_factor",
    "Pathogenic/Likely_pathogenic|other", "Pathogenic,_low_penetrance", "Likely_pathogenic,_low_penetrance",
    "Pathogenic/Likely_pathogenic/Pathogenic,_low_penetrance", "Benign", "Likely_benign", "Benign/Likely_benign",
    "Uncertain_significance", "Conflicting_classifications_of_pathogenicity", "risk_factor", "drug_response",
    "not_provided", "Uncertain_risk_allele", "association", "protective", "Affects",
    "Conflicting_classifications_of_pathogenicity|risk_factor", "Likely_risk_allele",
)
SELECTED_BY_DEFAULT = {"Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic", "Pathogenic|risk_factor",
                       "Pathogenic/Likely_pathogenic|other"}
ONC_VALUES = ("Oncogenic", "Likely_oncogenic", "Uncertain_significance", "Likely_benign")
CLINVAR_INFO = (
    ("AF_ESP", "1", "Float"), ("AF_EXAC", "1", "Float"), ("AF_TGP", "1", "Float"), ("ALLELEID", "1", "Integer"),
    ("CLNDN", ".", "String"), ("CLNDNINCL", ".", "String"), ("CLNDISDB", ".", "String"),
    ("CLNDISDBINCL", ".", "String"), ("CLNHGVS", ".", "String"), ("CLNREVSTAT", ".", "String"),
    ("CLNSIG", ".", "String"), ("CLNSIGCONF", ".", "String"), ("CLNSIGINCL", ".", "String"),
    ("CLNSIGSCV", ".", "String"), ("CLNVC", "1", "String"), ("CLNVCSO", "1", "String"), ("CLNVI", ".", "String"),
    ("DBVARID", ".", "String"), ("GENEINFO", "1", "String"), ("MC", ".", "String"), ("ONCDN", ".", "String"),
    ("ONCDNINCL", ".", "String"), ("ONCDISDB", ".", "String"), ("ONC", ".", "String"), ("ONCREVSTAT", ".", "String"),
    ("ORIGIN", ".", "String"), ("RS", ".", "String"), ("SCIDN", ".", "String"), ("SCI", ".", "String"),
    ("SCIREVSTAT", ".", "String"),
)


@dataclass
class ClinvarRecord:
    chrom: str  # ClinVar's name: 1, X, MT, NT_...
    start: int
    ref: str
    alt: str
    clnsig: str | None  # None: an ONC- or SCI-only record
    onc: str | None = None
    id: int = 0


def clinvar_records(reference: Reference, *, per_chrom: int = 60, seed: int = 3) -> list[ClinvarRecord]:
    """Records on the reference's chromosomes with every CLNSIG classification, ONC-only and SCI-only
    records, ALT ``N`` and ``.``, and records on ``MT`` and on ``NT_``/``NW_`` contigs."""
    rng = random.Random(seed)
    out: list[ClinvarRecord] = []
    for bare in CHROMOSOMES:
        seq = reference.upper(bare)
        codes = {at for chrom, at, _ in IUPAC if chrom == bare}
        for k, start in enumerate(sorted(rng.sample(range(600, CHROM_BP - 600), per_chrom))):
            if start in codes or seq[start] == "N" or start - 1 in codes or start + 1 in codes:
                continue
            ref = seq[start]
            alt = rng.choice([b for b in "ACGT" if b != ref])
            clnsig: str | None = CLNSIG_VALUES[k % len(CLNSIG_VALUES)]
            onc = None
            if k % 17 == 5:
                clnsig, onc = None, rng.choice(ONC_VALUES)
            elif k % 19 == 7:
                clnsig = None  # somatic (SCI) only
            elif k % 23 == 11:
                alt = "N"
            elif k % 29 == 13:
                alt = "."
            out.append(ClinvarRecord(bare, start, ref, alt, clnsig, onc))
    mt = next(seq for name, seq in reference.sequences.items() if name in ("chrM", "MT", "NC_012920.1")).upper()
    mt_alt = "G" if mt[3_000] != "G" else "A"
    extra = [("MT", 3_000, mt[3_000], mt_alt, "Pathogenic"), ("NT_187361.1", 1_200, "C", "T", "Pathogenic"),
             ("NT_187361.1", 1_400, "G", "A", "Likely_pathogenic"), ("NW_009646201.1", 50, "T", "C", "Pathogenic")]
    out += [ClinvarRecord(*e) for e in extra]
    for i, record in enumerate(out):
        record.id = 100_000 + i
    return out


def clinvar_vcf(directory: Path, reference: Reference, records: list[ClinvarRecord] | None = None
                ) -> tuple[str, list[ClinvarRecord]]:
    """ClinVar's weekly GRCh38 VCF (``clinvar.vcf.gz`` + ``.tbi``): no ``##contig`` lines."""
    rng = random.Random(4)
    records = clinvar_records(reference) if records is None else records
    lines = ["##fileformat=VCFv4.1", "##fileDate=2026-11-30", "##source=ClinVar", "##reference=GRCh38",
             '##ID=<Description="ClinVar Variation ID">']
    lines += [f'##INFO=<ID={k},Number={n},Type={t},Description="{k} (ClinVar)">' for k, n, t in CLINVAR_INFO]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    order = {c: i for i, c in enumerate(CHROMOSOMES + ("MT", "NT_187361.1", "NW_009646201.1"))}
    for r in sorted(records, key=lambda r: (order[r.chrom], r.start)):
        info = [f"ALLELEID={r.id + 7}", "CLNDISDB=MedGen:CN169374|MONDO:MONDO:0000001,Orphanet:ORPHA1234",
                "CLNDN=Hereditary_cancer-predisposing_syndrome|not_specified",
                f"CLNHGVS=NC_000001.11:g.{r.start + 1}{r.ref}>{r.alt}"]
        if r.clnsig is not None:
            info += ["CLNREVSTAT=criteria_provided,_multiple_submitters,_no_conflicts", f"CLNSIG={r.clnsig}"]
        elif r.onc is not None:
            info += [f"ONC={r.onc}", "ONCREVSTAT=criteria_provided,_single_submitter", "ONCDN=Neoplasm"]
        else:
            info += ["SCI=Tier_I_-_Strong", "SCIREVSTAT=criteria_provided,_single_submitter", "SCIDN=Lung_carcinoma"]
        info += ["CLNVC=single_nucleotide_variant", "CLNVCSO=SO:0001483", "GENEINFO=BRCA2:675",
                 "MC=SO:0001583|missense_variant", "ORIGIN=1", f"RS={rng.randint(10**6, 10**9)}"]
        lines.append(f"{r.chrom}\t{r.start + 1}\t{r.id}\t{r.ref}\t{r.alt}\t.\t.\t{';'.join(info)}")
    path = Path(directory) / "clinvar.vcf"
    path.write_text("\n".join(lines) + "\n")
    return pysam.tabix_index(str(path), preset="vcf", force=True), records
