# Saini & Papalexakis, multi-aspect coupled NMF of pixels, activations and examples (issue #11).
# Logic: reference_impls.papers.multiaspect; results: results/<profile>/multiaspect/.
MULTIASPECT_CFG = paper_config("multiaspect")
