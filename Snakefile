# Reproducibility suite for factorization-based concept explanations of CNNs.
#   snakemake --cores all                        # embedded default profile
#   snakemake --cores all --config profile=full  # paper scale (datasets under data/)
from snakemake.utils import min_version

min_version("9.0")

PROFILE = config.get("profile", "default")


configfile: f"workflow/config/{PROFILE}.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/craft.smk"
include: "workflow/rules/compare.smk"


rule all:
    input:
        foundation_targets(),
        craft_targets(),
        compare_targets(),
        f"{RESULTS}/claims.csv",
    default_target: True



rule foundation:
    input:
        foundation_targets(),


rule craft:
    input:
        craft_targets(),


rule compare:
    input:
        compare_targets(),
