# Khorram thesis ch. 3: XNN / sparse reconstruction autoencoder (issue #12).
# Logic: reference_impls.papers.xnn; results: results/<profile>/xnn/.
XNN_CFG = paper_config("xnn")
