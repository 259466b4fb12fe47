"""The experiment code behind each paper's tables and figures (one module per paper)."""
