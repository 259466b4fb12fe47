"""Model zoo, training, and the activation cache."""

from .activations import (
    CorruptCacheError,
    extract_activations,
    load_activations,
    record_layers,
    save_activations,
)
from .training import evaluate, iterate_batches, load_checkpoint, save_checkpoint, train_model
from .zoo import MLP, SmallCNN, SmallResNet, available_architectures, build_model, named_layer

__all__ = [
    "CorruptCacheError",
    "extract_activations",
    "load_activations",
    "record_layers",
    "save_activations",
    "evaluate",
    "iterate_batches",
    "load_checkpoint",
    "save_checkpoint",
    "train_model",
    "MLP",
    "SmallCNN",
    "SmallResNet",
    "available_architectures",
    "build_model",
    "named_layer",
]
