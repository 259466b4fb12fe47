# ProtoNMF: NMF prototypes and exact head reconstruction (issue #15).
# Logic: reference_impls.papers.protonmf; results: results/<profile>/protonmf/.
PROTONMF_CFG = paper_config("protonmf")
