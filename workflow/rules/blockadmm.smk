# Khorram thesis ch. 4: Stochastic Block ADMM training (issue #13).
# Logic: reference_impls.papers.blockadmm; results: results/<profile>/blockadmm/.
BLOCKADMM_CFG = paper_config("blockadmm")
