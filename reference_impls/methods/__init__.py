"""Concept extractors: the papers' methods and the baselines, behind one interface."""

from .base import BUILTIN, ConceptExtractor, concept_bank, make_extractor, resolve_class

__all__ = ["BUILTIN", "ConceptExtractor", "concept_bank", "make_extractor", "resolve_class"]
