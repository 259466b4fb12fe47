# Khorram thesis ch. 4.3: DeepFacto, an NMF layer trained inside the network (issue #14).
# Logic: reference_impls.papers.deepfacto; results: results/<profile>/deepfacto/.
DEEPFACTO_CFG = paper_config("deepfacto")
