"""Training algorithms shared by papers: Stochastic Block ADMM and its baselines (Khorram thesis, ch. 4)."""
