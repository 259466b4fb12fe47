# Reproducibility suite for factorization-based concept explanations of CNNs.
#   snakemake --cores all                        # embedded default profile
#   snakemake --cores all --config profile=full  # paper scale (datasets under data/)
# Adding a paper: one include line below and new files only (workflow/rules/<id>.smk,
# workflow/schemas/<id>.schema.yaml, workflow/config/<profile>/<id>.yaml,
# reference_impls/papers/<id>/, workflow/report/<id>/, tests/papers/test_<id>.py).
from snakemake.utils import min_version

min_version("9.0")

PROFILE = config.get("profile", "default")


configfile: f"workflow/config/{PROFILE}.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/compare.smk"
# Papers: each rules file registers its targets and claims with register_paper().
include: "workflow/rules/craft.smk"
include: "workflow/rules/multiaspect.smk"
include: "workflow/rules/xnn.smk"
include: "workflow/rules/blockadmm.smk"
include: "workflow/rules/deepfacto.smk"
include: "workflow/rules/protonmf.smk"
include: "workflow/rules/bona.smk"
# The ledger, the reproduction index and the regression check read the registry: last.
include: "workflow/rules/ledger.smk"


rule all:
    input:
        foundation_targets(),
        compare_targets(),
        all_paper_targets(),
        ledger_targets(),
    default_target: True


rule foundation:
    input:
        foundation_targets(),


rule compare:
    input:
        compare_targets(),
