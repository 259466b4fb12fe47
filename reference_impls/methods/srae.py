"""The explanation network XNN with a sparse reconstruction autoencoder (SRAE) and its
baselines (Khorram, MS thesis 2020, ch. 3; Qi, Khorram & Li, AIJ 2021).

An XNN embeds a layer ``Z`` of a trained CNN into n non-negative x-features
``E = E_theta(Z)`` that predict one category's pre-softmax logit, ``ybar = v^T E + b``.
``kind`` selects the objective (thesis Eq. 3.6 and Sec. 3.4 baselines):

- ``srae``: faithfulness (squared loss, positives weighted n_neg / n_pos) + beta * the
  log-penalty sparse reconstruction ``mean_k log(1 + q Q_k)`` (Eq. 3.5; Q_k over the
  minibatch, as the public code) + eta * the pull-away term (Eq. 3.3) on the contributions
  ``E * v`` along the features (cosines between the n columns over the minibatch);
- ``nn``: the same encoder and v, faithfulness only;
- ``sae``: faithfulness + ``recon_weight`` * plain MSE reconstruction, no pull-away;
- ``cae``: reconstruction (MSE) only; v fitted afterwards by least squares on E.

Architecture and recipe from the co-author's public code: encoder
``d-800-100-n`` (ReLU everywhere, dropout 0.02 after the first layer, so E >= 0), mirrored
ReLU decoder, greedy layer-wise autoencoder pretraining, Adam (lr 1e-3, weight decay 1e-4),
minibatch 50, and the acceptance loop (>= 2 x-features with positive mean contribution and
second / largest >= 0.3, else beta * 1.2, eta * 0.8 and retrain).

Concept-extractor interface: ``fit(A, y)`` (``y`` the logit to explain; without ``y`` the
faithfulness term is dropped: an unsupervised sparse-reconstruction AE with pull-away),
``transform(A) -> E`` (n x-features), ``inverse_transform(E)`` (the network decoder; for
``nn``, which has none, the linear decoder). The decoder is not affine, so ``components_``
(n x p) is the least-squares *linear* decoder ``A ~ E components_ + mean_`` fitted on the
training rows: the affine surrogate through which SRAE joins the comparison matrix.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..utils import as_numpy
from .base import ExtractorMixin

KINDS = ("srae", "nn", "sae", "cae")
log = logging.getLogger(__name__)


def _mlp(sizes, dropout=0.0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b), nn.ReLU()]
        if i == 0 and dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def log_penalty(z_hat, z, q: float):
    """Eq. 3.5: ``1/S_z sum_k log(1 + q Q_k)``, ``Q_k`` = batch mean of ``(zhat_k - z_k)^2``."""
    return torch.log1p(q * ((z_hat - z) ** 2).mean(0)).mean()


def pull_away(e):
    """Eq. 3.3: ``1/(n(n-1)) sum_{l != l'} cos(E_l, E_l')^2`` between the n columns of ``e``;
    0 for a single column (no pairs: nothing to pull apart, rather than 0 / 0)."""
    if e.shape[1] < 2:
        return e.new_zeros(())
    e = e + 1e-8
    u = e / e.norm(dim=0, keepdim=True)
    c = u.T @ u
    n = c.shape[0]
    return ((c**2).sum() - (torch.diagonal(c) ** 2).sum()) / (n * (n - 1))


def acceptance(contrib_mean, min_positive: int = 2, min_ratio: float = 0.3) -> bool:
    """Public-code acceptance: >= ``min_positive`` x-features with a positive mean
    contribution and (second largest) / (largest) >= ``min_ratio``."""
    pos = np.sort(np.asarray(contrib_mean)[np.asarray(contrib_mean) > 0])[::-1]
    return len(pos) >= min_positive and pos[1] / pos[0] >= min_ratio


class SRAE(ExtractorMixin, TransformerMixin, BaseEstimator):
    """XNN with an SRAE (or a baseline ``kind``); see the module docstring."""

    def __init__(
        self,
        n_components: int = 5,
        kind: str = "srae",
        hidden=(800, 100),
        dropout: float = 0.02,
        q: float = 100.0,
        beta: float = 15.0,
        eta: float = 5.0,
        recon_weight: float = 30.0,
        epochs: int = 5,
        pretrain_epochs: int = 1,
        batch_size: int = 50,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        balance_positives: bool = True,
        max_retries: int = 0,
        random_state: int | None = None,
    ):
        self.n_components = n_components
        self.kind = kind
        self.hidden = hidden
        self.dropout = dropout
        self.q = q
        self.beta = beta
        self.eta = eta
        self.recon_weight = recon_weight
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.balance_positives = balance_positives
        self.max_retries = max_retries
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check(self, A, reset=False):
        return np.ascontiguousarray(as_numpy(self._validate(A, reset=reset), np.float32))

    def _weights(self, y, positive):
        w = np.ones(len(y), np.float32)
        if positive is not None and self.balance_positives:
            positive = np.asarray(positive, bool)
            if positive.shape != y.shape:
                raise ValueError(f"positive {positive.shape} must match y {y.shape}")
            n_pos = positive.sum()
            if 0 < n_pos < len(y):
                w[positive] = (len(y) - n_pos) / n_pos
        return w / w.mean()

    def _pretrain(self, Z, gen):
        """Greedy layer-wise autoencoders (ReLU encoder and decoder, MSE), copied into the
        encoder and the decoder; then v by least squares on the codes."""
        sizes = [Z.shape[1], *self.hidden, self.n_components]
        enc = [m for m in self.encoder_ if isinstance(m, nn.Linear)]
        dec = [m for m in self.decoder_ if isinstance(m, nn.Linear)][::-1]
        x = Z
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            e, d = nn.Linear(a, b), nn.Linear(b, a)
            opt = torch.optim.Adam([*e.parameters(), *d.parameters()], lr=self.lr)
            for _ in range(self.pretrain_epochs):
                for idx in torch.randperm(len(x), generator=gen).split(self.batch_size):
                    loss = ((torch.relu(d(torch.relu(e(x[idx])))) - x[idx]) ** 2).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            enc[i].load_state_dict(e.state_dict())
            dec[i].load_state_dict(d.state_dict())
            with torch.no_grad():
                x = torch.relu(e(x))

    @torch.no_grad()
    def _revive(self, Z):
        """Suite choice (not in the thesis): an x-feature that is zero on every training row
        (after pretraining or an epoch) gets no gradient through its ReLU; shift its bias so
        that it is active on half the rows (then v is refitted by least squares).
        ``n_revived_`` counts the resets."""
        last = [m for m in self.encoder_ if isinstance(m, nn.Linear)][-1]
        pre = self.encoder_.eval()[:-2](Z)
        pre = last(pre)
        dead = (pre <= 0).all(0)
        last.bias[dead] -= pre[:, dead].median(0).values
        self.n_revived_ = getattr(self, "n_revived_", 0) + int(dead.sum())
        return bool(dead.any())

    def _train(self, Z, y, w, beta, eta, gen):
        params = [*self.encoder_.parameters(), *self.v_.parameters()]
        if self.kind != "nn":
            params += list(self.decoder_.parameters())
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        supervised = y is not None and self.kind != "cae"
        for epoch in range(self.epochs):
            self.encoder_.train()
            total = 0.0
            for idx in torch.randperm(len(Z), generator=gen).split(self.batch_size):
                z = Z[idx]
                e = self.encoder_(z)
                loss = torch.zeros(())
                if supervised:
                    pred = self.v_(e).squeeze(1)
                    loss = loss + (w[idx] * (pred - y[idx]) ** 2).mean()
                if self.kind == "srae":
                    loss = loss + beta * log_penalty(self.decoder_(e), z, self.q)
                    if len(idx) > 1:
                        contrib = e * self.v_.weight if supervised else e
                        loss = loss + eta * pull_away(contrib)
                elif self.kind == "sae":
                    loss = loss + self.recon_weight * ((self.decoder_(e) - z) ** 2).mean()
                elif self.kind == "cae":
                    loss = loss + ((self.decoder_(e) - z) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                if not np.isfinite(total):
                    raise FloatingPointError(
                        f"SRAE ({self.kind}): the loss became non-finite in epoch {epoch + 1}; "
                        f"lower lr or beta / eta"
                    )
            log.info("%s epoch %d loss %.4f", self.kind, epoch + 1, total / len(Z))
            if self._revive(Z) and supervised:
                self._fit_v(Z, y)
        self.encoder_.eval()

    def fit(self, A, y=None, positive=None):
        """Fit on activations ``A`` (M, d) to explain the logit ``y`` (M,); ``positive``
        (M,) bool marks the category's examples (weighted n_neg / n_pos)."""
        if self.kind not in KINDS:
            raise ValueError(f"kind '{self.kind}' is not one of {KINDS}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        A = self._check(A, reset=True)
        if y is not None:
            y = as_numpy(y, np.float32).reshape(-1)
            if len(y) != len(A):
                raise ValueError(f"y has {len(y)} values for {len(A)} rows of A")
        seed = 0 if self.random_state is None else int(self.random_state)
        self.scale_ = float(A.std()) or 1.0
        Z = torch.from_numpy(A / self.scale_)
        yt = None if y is None else torch.from_numpy(y)
        w = torch.from_numpy(self._weights(y if y is not None else np.zeros(len(A)), positive))
        beta, eta = float(self.beta), float(self.eta)
        self.n_retries_ = 0
        self.n_revived_ = 0
        for attempt in range(self.max_retries + 1):
            torch.manual_seed(seed + attempt)
            gen = torch.Generator().manual_seed(seed + attempt)
            sizes = [A.shape[1], *self.hidden, self.n_components]
            self.encoder_ = _mlp(sizes, self.dropout)
            self.decoder_ = _mlp(sizes[::-1])
            self.v_ = nn.Linear(self.n_components, 1)
            if self.pretrain_epochs > 0:
                self._pretrain(Z, gen)
            self._revive(Z)
            if yt is not None:
                self._fit_v(Z, yt)
            self._train(Z, yt, w, beta, eta, gen)
            if self.kind == "cae" and yt is not None:
                self._fit_v(Z, yt)
            self.beta_, self.eta_ = beta, eta
            self.accepted_ = yt is None or acceptance(self.contributions(A).mean(0))
            if self.accepted_ or attempt == self.max_retries:
                break
            beta, eta = beta * 1.2, eta * 0.8
            self.n_retries_ += 1
        E = self.transform(A)
        design = np.c_[E, np.ones(len(E))]
        coef, *_ = np.linalg.lstsq(design, A, rcond=None)
        self.components_ = coef[:-1].astype(np.float32)
        self.mean_ = coef[-1].astype(np.float32)
        return self

    @torch.no_grad()
    def _fit_v(self, Z, y):
        """v and b by least squares on E, with a tiny ridge (1e-6 of the mean squared E) so
        that a nearly dead x-feature does not get a huge weight."""
        E = self.encoder_.eval()(Z).numpy().astype(np.float64)
        X = np.c_[E, np.ones(len(E))]
        ridge = np.diag([*(np.full(E.shape[1], 1e-6 * max((E**2).mean(), 1e-12))), 0.0])
        coef = np.linalg.solve(
            X.T @ X / len(X) + ridge, X.T @ y.numpy().astype(np.float64) / len(X)
        )
        self.v_.weight.data = torch.tensor(coef[None, :-1], dtype=torch.float32)
        self.v_.bias.data = torch.tensor(coef[-1:], dtype=torch.float32)

    # ------------------------------------------------------------------ using
    @torch.no_grad()
    def transform(self, A) -> np.ndarray:
        """x-features ``E`` (M, n), non-negative."""
        A = self._check(A)
        return self.encoder_.eval()(torch.from_numpy(A / self.scale_)).numpy()

    @torch.no_grad()
    def inverse_transform(self, E) -> np.ndarray:
        """Reconstructed activations (M, d) from x-features (the network decoder; the linear
        decoder ``components_`` for ``kind='nn'``, which trains none)."""
        E = np.ascontiguousarray(as_numpy(self._validate_codes(E), np.float32))
        if self.kind == "nn":
            return E @ self.components_ + self.mean_
        return self.decoder_(torch.from_numpy(E)).numpy() * self.scale_

    @torch.no_grad()
    def predict(self, A) -> np.ndarray:
        """``ybar = v^T E + b`` (M,)."""
        check_is_fitted(self)
        return self.v_(torch.from_numpy(self.transform(A))).numpy()[:, 0]

    def contributions(self, A) -> np.ndarray:
        """``v_l E_l`` per row and x-feature (M, n)."""
        return self.transform(A) * self.v_.weight.detach().numpy()[0]

    def encoder_chain(self) -> list[nn.Module]:
        """The encoder as a list of modules on *unscaled* activations (the 1 / scale_ folded
        into the first linear layer), for excitation backprop; the last Linear's rows are the
        x-features' classifier rows."""
        mods = [m for m in self.encoder_]
        first = nn.Linear(mods[0].in_features, mods[0].out_features)
        first.weight.data = mods[0].weight.detach() / self.scale_
        first.bias.data = mods[0].bias.detach().clone()
        return [first, *mods[1:]]
