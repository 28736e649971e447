r"""Optimisers whose step sizes match the paper layer's parametrisation.

The paper's layer and partial convolution compute the same function on every window
that holds a valid pixel when ``w_paper = k^2 w_partial`` (k: kernel size; the paper
divides the window sum by the count n, partial convolution by n / k^2). They differ as
*parametrisations*: with :math:`w_p = k^2 w_q`,

.. math::

    \frac{\partial L}{\partial w_p} = \frac{1}{k^2}\frac{\partial L}{\partial w_q}.

**SGD** (momentum, Nesterov, L2 weight decay :math:`\lambda`). A step on :math:`w_p`
with rate :math:`\eta_p` and decay :math:`\lambda_p` moves :math:`w_q = w_p / k^2` by

.. math::

    \Delta w_q = -\frac{\eta_p}{k^2}\Big(\frac{g_q}{k^2} + \lambda_p k^2 w_q\Big)
               = -\frac{\eta_p}{k^4}\big(g_q + \lambda_p k^4 w_q\big),

so :math:`\eta_p = k^4 \eta` and :math:`\lambda_p = \lambda / k^4` give exactly the step
of partial convolution with :math:`(\eta, \lambda)`. Momentum and Nesterov's look-ahead
are linear in the gradient, so they follow.

**Adam** (L2 decay, not AdamW). With the decay above the effective gradient is
:math:`g_p = (g_q + \lambda w_q) / k^2`, so the moments are :math:`m_p = m_q / k^2`,
:math:`v_p = v_q / k^4`, and the step

.. math::

    \Delta w_p = -\eta_p \frac{m_q / k^2}{\sqrt{v_q} / k^2 + \epsilon_p}
               = -\eta_p \frac{m_q}{\sqrt{v_q} + k^2 \epsilon_p}

equals :math:`k^2 \Delta w_q` for :math:`\eta_p = k^2 \eta` and
:math:`\epsilon_p = \epsilon / k^2`.

A single learning rate for all weights therefore trains the paper layer like partial
convolution at :math:`\eta / k^4` under SGD (and :math:`\eta / k^2` under Adam).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sparseconv.nn.layers import SparseConv2d

__all__ = ["OPTIMIZERS", "param_groups", "make_optimizer", "describe_optimizer"]

OPTIMIZERS = ("sgd", "adam")
MOMENTUM = 0.9
ADAM_EPS = 1e-8


def param_groups(
    model: nn.Module,
    optimizer: str,
    lr: float,
    weight_decay: float,
    eps: float = ADAM_EPS,
    compensate: bool = True,
) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim.SGD`` or ``torch.optim.Adam``.

    With ``compensate``, the weight of every :class:`SparseConv2d` with the paper's
    normalisation (kernel k; in general k^2 below is the window size |W|) gets, under
    ``"sgd"``, lr x k^4 and weight decay / k^4; under ``"adam"``, lr x k^2, eps / k^2 and
    weight decay / k^4 (derivation in the module docstring). Every other parameter
    (biases included) gets ``(lr, weight_decay, eps)``. Without ``compensate``: one
    group, the plain recipe.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    base: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if optimizer == "adam":
        base["eps"] = eps
    scaled: dict[int, list[nn.Parameter]] = {}
    if compensate:
        for module in model.modules():
            if isinstance(module, SparseConv2d) and module.normalization == "paper":
                # the weight scale between the two normalisations: |W| = k^2 for a k x k
                # window (times C_in / groups with a multi-channel mask)
                scaled.setdefault(module.window, []).append(module.weight)
    special = {id(p) for ps in scaled.values() for p in ps}
    groups = [{"params": [p for p in model.parameters() if id(p) not in special], **base}]
    for window, params in sorted(scaled.items()):
        k2 = float(window)
        group: dict[str, Any] = {"params": params, "weight_decay": weight_decay / k2**2}
        if optimizer == "sgd":
            group["lr"] = lr * k2**2
        else:
            group["lr"] = lr * k2
            group["eps"] = eps / k2
        groups.append(group)
    return [g for g in groups if g["params"]]


def make_optimizer(
    model: nn.Module,
    optimizer: str,
    lr: float,
    weight_decay: float,
    compensate: bool = True,
) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum 0.9) or Adam over :func:`param_groups`."""
    groups = param_groups(model, optimizer, lr, weight_decay, compensate=compensate)
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=MOMENTUM, nesterov=True)
    return torch.optim.Adam(groups, lr=lr, eps=ADAM_EPS)


def describe_optimizer(
    optimizer: str, weight_decay: float, compensate: bool, schedule: str = "cosine decay per epoch"
) -> str:
    """The record's ``optimizer`` text, e.g. 'SGD, Nesterov momentum 0.9, weight decay
    5e-4, cosine decay per epoch, paper-layer weights at matched step sizes'."""
    name = f"SGD, Nesterov momentum {MOMENTUM}" if optimizer == "sgd" else "Adam"
    text = f"{name}, weight decay {weight_decay:g}, {schedule}"
    return text + (", paper-layer weights at matched step sizes" if compensate else "")
