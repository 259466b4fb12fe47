"""`snakemake --lint` with one documented exception; exits 1 on any other lint.

Accepted: "Specify a conda environment or container for each rule." Every rule runs Python
from one pinned environment (pyproject.toml, `make setup`): the rules call the package
`reference_impls`, not command-line tools, so a per-rule conda env would repeat the same
pin list in N files and be untested (CI runs the venv). See README "Adding a paper".

Usage: python .ci/snakemake_lint.py [snakemake args, e.g. --config profile=full]
"""

import re
import subprocess
import sys

ACCEPTED = {"Specify a conda environment or container for each rule."}

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
