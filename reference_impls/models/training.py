"""Deterministic training and evaluation of the zoo's models (CPU or CUDA)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..utils import get_device, seed_everything


def iterate_batches(
    dataset, batch_size: int, shuffle: bool = False, generator=None, with_index: bool = False
):
    """Yield ``(images, labels)`` (or ``(images, labels, indices)``) batches of a dataset.

    In-memory datasets (with an ``images`` array) are sliced directly, which is much faster
    than a per-item DataLoader; any other ``torch.utils.data.Dataset`` goes through one.
    """
    n = len(dataset)
    order = (torch.randperm(n, generator=generator) if shuffle else torch.arange(n)).numpy()
    if hasattr(dataset, "images") and dataset.transform is None:
        images, targets = dataset.images, dataset.targets
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch = (torch.from_numpy(images[idx]), torch.from_numpy(targets[idx]))
            yield batch + (torch.from_numpy(idx),) if with_index else batch
        return
    sampler = torch.utils.data.SequentialSampler(dataset)
    if shuffle:
        sampler = order.tolist()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=0
    )
    start = 0
    for x, y in loader:
        idx = torch.as_tensor(
            order[start : start + len(y)] if shuffle else np.arange(start, start + len(y))
        )
        start += len(y)
        yield (x, y, idx) if with_index else (x, y)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, batch_size: int = 256, device=None) -> dict:
    """Accuracy and mean cross-entropy of ``model`` on ``dataset``."""
    device = get_device(device)
    model.eval().to(device)
    correct, loss, n = 0, 0.0, 0
    for x, y in iterate_batches(dataset, batch_size):
        logits = model(x.to(device))
        y = y.to(device)
        loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return {"accuracy": correct / n, "loss": loss / n, "n": n}


def train_model(
    model: nn.Module,
    train_set,
    test_set,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    seed: int = 0,
    device=None,
    progress: bool = True,
):
    """Train with AdamW and a cosine schedule; returns ``(history DataFrame, metrics dict)``.

    The history has one row per epoch (train loss and accuracy, test loss and accuracy,
    seconds). Deterministic given ``seed`` on one machine.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    seed_everything(seed)
    device = get_device(device)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * math.ceil(len(train_set) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    rows = []
    bar = tqdm(
        total=steps, desc=f"train {type(model).__name__}", disable=not progress, mininterval=2.0
    )
    for epoch in range(1, epochs + 1):
        model.train()
        t0, tr_loss, tr_correct, n = time.perf_counter(), 0.0, 0, 0
        for x, y in iterate_batches(train_set, batch_size, shuffle=True, generator=generator):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tr_loss += loss.item() * len(y)
            tr_correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
            bar.update(1)
        test = evaluate(model, test_set, device=device)
        rows.append(
            {
                "epoch": epoch,
                "train_loss": tr_loss / n,
                "train_accuracy": tr_correct / n,
                "test_loss": test["loss"],
                "test_accuracy": test["accuracy"],
                "seconds": time.perf_counter() - t0,
            }
        )
        bar.set_postfix(test_acc=f"{test['accuracy']:.3f}")
    bar.close()
    final = evaluate(model, test_set, device=device)
    history = pd.DataFrame(
        rows,
        columns=["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"],
    )
    metrics = {
        "test_accuracy": final["accuracy"],
        "test_loss": final["loss"],
        "n_test": final["n"],
        "epochs": epochs,
        "train_seconds": float(history["seconds"].sum()) if len(history) else 0.0,
    }
    return history, metrics


def save_checkpoint(path, model, arch: str, n_classes: int, options: dict, spec: dict) -> None:
    """Save weights with what rebuilds the model: ``build_model(arch, n_classes, **options)``."""
    torch.save(
        {
            "arch": arch,
            "n_classes": n_classes,
            "options": dict(options),
            "state_dict": model.state_dict(),
            "spec": spec,
        },
        path,
    )


def load_checkpoint(path, device="cpu") -> nn.Module:
    """Rebuild and load a model saved by :func:`save_checkpoint` (eval mode)."""
    from .zoo import build_model

    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError) as err:
        raise ValueError(
            f"{path}: unreadable checkpoint ({err}); rerun the train_model rule"
        ) from err
    model = build_model(ckpt["arch"], ckpt["n_classes"], **ckpt["options"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()
