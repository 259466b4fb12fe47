"""`snakemake --lint` with one documented exception; exits 1 on any other lint.

Accepted: "Specify a conda environment or container for each rule." Every rule runs Python
from one pinned environment (pyproject.toml, `make setup`): the rules call the package
`reference_impls`, not command-line tools, so a per-rule conda env would repeat the same
pin list in N files and be untested (CI runs the venv). See README "Adding a paper".

Accepted: "Mixed rules and functions in same snakefile." A paper's input functions (which
cache a setting reads, which runs a table collects) belong to that paper alone; moving them
into common.smk would make every new paper edit a shared file, which the house rule forbids
(one rules file per paper). Helpers two papers share do live in common.smk.

Usage: python .ci/snakemake_lint.py [snakemake args, e.g. --config profile=full]
"""

import re
import subprocess
import sys

ACCEPTED = {
    "Specify a conda environment or container for each rule.",
    "Mixed rules and functions in same snakefile.",
}

run = subprocess.run(
    [sys.executable, "-m", "snakemake", "--lint", "--nolock", *sys.argv[1:]],
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
)
findings, where = [], None
for line in run.stdout.splitlines():
    if line.startswith("Lints for "):
        where = line.removeprefix("Lints for ").rstrip(":")
    elif m := re.match(r"\s+\* (.+?):$", line):
        if m.group(1) not in ACCEPTED:
            findings.append(f"{where}: {m.group(1)}")
if run.returncode and not findings and "Lints for " not in run.stdout:
    print(run.stdout)  # snakemake failed before linting (a parse or config error)
    sys.exit(run.returncode)
for f in findings:
    print(f)
accepted = run.stdout.count("Specify a conda environment")
print(f"snakemake --lint: {len(findings)} finding(s); {accepted} accepted (one pinned venv)")
sys.exit(1 if findings else 0)
