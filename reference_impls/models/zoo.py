"""The model zoo: small CPU models for the embedded profile, torchvision CNNs for the full one.

Every model exposes ``stage_names``: the named layers whose outputs the activation cache can
record (post-ReLU, so non-negative, for the CNN stages). ``build_model(arch, n_classes, ...)``
is the one entry point used by the workflow.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _conv_block(c_in, c_out, pool):
    layers = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A small ReLU CNN with named stages ``stage1..stage4`` (each ends in a ReLU).

    Stage outputs for a 64x64 input: 32x32, 16x16, 8x8, 8x8 maps. ``head`` (global average
    pool + linear) maps the last stage to logits, so ``stage4`` is the CRAFT-style
    "non-negative layer" followed by a simple classification head.
    """

    stage_names = ("stage1", "stage2", "stage3", "stage4")

    def __init__(self, n_classes: int, in_channels: int = 3, widths=(16, 32, 64, 128)):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.stage1 = _conv_block(in_channels, w1, pool=True)
        self.stage2 = _conv_block(w1, w2, pool=True)
        self.stage3 = _conv_block(w2, w3, pool=True)
        self.stage4 = _conv_block(w3, w4, pool=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w4, n_classes)

    def features(self, x):
        return self.stage4(self.stage3(self.stage2(self.stage1(x))))

    def head(self, a):
        """Logits from ``stage4`` activations (N x C x H x W)."""
        return self.fc(self.pool(a).flatten(1))

    def head_channels_last(self, a, bias=None):
        """:meth:`head` on channels-last maps ``(N, H, W, C)`` (or pooled ``(N, C)``) plus an
        optional per-channel ``bias``; pooling first avoids a permuted copy."""
        pooled = a.mean(tuple(range(1, a.ndim - 1))) if a.ndim > 2 else a
        return self.fc(pooled if bias is None else pooled + bias)

    def forward(self, x):
        return self.head(self.features(x))


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small ResNet (one basic block per stage) with named stages ``stage1..stage4``."""

    stage_names = ("stage1", "stage2", "stage3", "stage4")

    def __init__(self, n_classes: int, in_channels: int = 3, widths=(16, 32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        chans = (widths[0],) + tuple(widths)
        for i in range(4):
            setattr(self, f"stage{i + 1}", _BasicBlock(chans[i], chans[i + 1], 1 if i == 0 else 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_classes)

    def features(self, x):
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    head = SmallCNN.head
    head_channels_last = SmallCNN.head_channels_last

    def forward(self, x):
        return self.head(self.features(x))


class MLP(nn.Module):
    """A ReLU MLP with named hidden layers ``fc1..fcK`` (Khorram's 784-128-128-10 by default)."""

    def __init__(self, n_classes: int, in_features: int = 784, hidden=(128, 128)):
        super().__init__()
        self.flatten = nn.Flatten()
        dims = (in_features,) + tuple(hidden)
        self.stage_names = tuple(f"fc{i + 1}" for i in range(len(hidden)))
        for i, name in enumerate(self.stage_names):
            setattr(self, name, nn.Sequential(nn.Linear(dims[i], dims[i + 1]), nn.ReLU()))
        self.out = nn.Linear(dims[-1], n_classes)

    def forward(self, x):
        x = self.flatten(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.out(x)


# torchvision architectures of the full profile, with their named stages.
TORCHVISION_STAGES = {
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "resnet34": ("layer1", "layer2", "layer3", "layer4"),
    "resnet50": ("layer1", "layer2", "layer3", "layer4"),
    "resnet101": ("layer1", "layer2", "layer3", "layer4"),  # BONA Table 1
    "resnet152": ("layer1", "layer2", "layer3", "layer4"),
    "vgg16": ("features.15", "features.22", "features.29", "classifier.4"),
    "vgg19": ("features.17", "features.26", "features.35", "classifier.4"),
}
EMBEDDED = {"small_cnn": SmallCNN, "small_resnet": SmallResNet, "mlp": MLP}


def build_torchvision(arch: str, n_classes: int, weights_path=None) -> nn.Module:
    """A torchvision model; loads a local state dict when given (no hub download, ever)."""
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None)
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{arch}: pretrained weights not found at '{path}'. Save them there once on a "
                f"machine with internet, e.g. torch.save(torchvision.models.{arch}"
                f"(weights='DEFAULT').state_dict(), '{path}')"
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if n_classes != 1000:  # replace the ImageNet classifier for a new label set
        if arch.startswith("resnet"):
            model.fc = nn.Linear(model.fc.in_features, n_classes)
        else:
            model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, n_classes)
    model.stage_names = TORCHVISION_STAGES[arch]
    return model


def build_model(
    arch: str, n_classes: int, in_channels: int = 3, weights_path=None, **kwargs
) -> nn.Module:
    """Build ``arch`` (one of ``available_architectures()``) for ``n_classes`` classes."""
    if arch in EMBEDDED:
        if arch == "mlp":
            return MLP(n_classes, **kwargs)
        return EMBEDDED[arch](n_classes, in_channels=in_channels, **kwargs)
    if arch in TORCHVISION_STAGES:
        if in_channels != 3 or kwargs:
            raise ValueError(
                f"{arch}: torchvision architectures take 3-channel images and no "
                f"options; got in_channels={in_channels}, options={kwargs}"
            )
        return build_torchvision(arch, n_classes, weights_path)
    raise ValueError(f"unknown architecture '{arch}'; known: {available_architectures()}")


def available_architectures():
    return sorted(EMBEDDED) + sorted(TORCHVISION_STAGES)


def named_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted path allowed), with a clear error otherwise."""
    modules = dict(model.named_modules())
    if name not in modules:
        stages = getattr(model, "stage_names", ())
        raise KeyError(f"layer '{name}' not in {type(model).__name__}; named stages: {stages}")
    return modules[name]
