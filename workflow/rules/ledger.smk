# Read the paper registry (register_paper): one claims ledger, one reproduction index, one
# regression check over every paper. Included after every paper's rules file.


rule claims_ledger:
    """Every registered paper's claims.csv gathered into one table and one markdown page."""
    input:
        registered_files("claims.csv"),
    output:
        csv=f"{RESULTS}/claims.csv",
        md=report(f"{RESULTS}/claims.md", caption="../report/claims.rst", category="Claims"),
    log:
        f"{LOGS}/claims_ledger.log",
    script:
        "../scripts/claims_ledger.py"


rule reproduction_index:
    """Paper x artefact x status x claims holding, from each paper's ARTEFACTS index."""
    input:
        claims=f"{RESULTS}/claims.csv",
        targets=all_paper_targets(),
    output:
        csv=f"{RESULTS}/reproduction_index.csv",
        md=report(f"{RESULTS}/reproduction_index.md",
                  caption="../report/reproduction_index.rst", category="Claims"),
    params:
        papers=list(PAPERS),
    log:
        f"{LOGS}/reproduction_index.log",
    script:
        "../scripts/reproduction_index.py"


rule regression_check:
    """Compare the latest metrics, paper results and claims with the committed expected
    values (the same check as `make check`)."""
    input:
        metrics=compare_targets()[:1],
        results=registered_files("results.csv"),
        claims=f"{RESULTS}/claims.csv",
    output:
        f"{RESULTS}/regression_check.txt",
    params:
        expected=f"results/expected/{config['profile']}",
        tolerances="results/expected/tolerances.yaml",
    log:
        f"{LOGS}/regression_check.log",
    script:
        "../scripts/regression_check.py"
