# Kolouri, Martin & Hoffmann: bag of neural activations (issue #16).
# Logic: reference_impls.papers.bona; results: results/<profile>/bona/.
BONA_CFG = paper_config("bona")
