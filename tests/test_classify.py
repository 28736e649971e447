"""Classification pieces: the per-class metric and batch-norm re-estimation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparseconv.nn.networks import build_model
from sparseconv.train.classify import (
    ClassificationData,
    evaluate,
    evaluate_all_levels,
    recalibrate_batch_norm,
)


class AlwaysClass(nn.Module):
    """Predicts one class for every image."""

    def __init__(self, label: int, num_classes: int) -> None:
        super().__init__()
        self.label, self.num_classes = label, num_classes

    def forward(self, x, mask):
        logits = torch.zeros(len(x), self.num_classes)
        logits[:, self.label] = 1.0
        return logits


def _data(labels: list[int], num_classes: int, size: int = 8, channels: int = 1):
    n = len(labels)
    images = torch.randint(0, 255, (n, channels, size, size), dtype=torch.uint8)
    y = torch.tensor(labels)
    split = {"train": images, "val": images, "test": images, "train_eval": images}
    return ClassificationData(
        "toy", split, {k: y for k in split}, torch.zeros(1, channels, 1, 1),
        torch.ones(1, channels, 1, 1), False, [str(c) for c in range(num_classes)],
    )  # fmt: skip


def test_mean_per_class_accuracy_of_a_majority_guesser_by_hand():
    # 8 images of class 0, 1 of class 1, 1 of class 2: always answering 0 is right on
    # 8 of 10 images (accuracy 0.8) but on 1 of 3 classes (per class 1/3)
    data = _data([0] * 8 + [1, 2], 3)
    masks = torch.ones(10, 1, 8, 8, dtype=torch.bool)
    accuracy, per_class = evaluate(AlwaysClass(0, 3), data, masks)
    assert accuracy == pytest.approx(0.8)
    assert per_class == pytest.approx(1 / 3)
    # classes absent from the split do not count: only classes 0 and 1 present
    data = _data([0] * 9 + [1], 4)
    assert evaluate(AlwaysClass(1, 4), data, masks)[1] == pytest.approx(0.5)


def test_batch_norm_recalibration_changes_statistics_not_weights():
    torch.manual_seed(0)
    net = build_model("caltech101", "dense")
    data = _data([c % 101 for c in range(64)], 101, size=64, channels=3)
    weights = {k: v.clone() for k, v in net.named_parameters()}
    before = net.blocks[0].norm.running_var.clone()
    g = torch.Generator().manual_seed(0)
    assert recalibrate_batch_norm(net, data, 0.9, g, n_images=64, batch_size=32)
    after = net.blocks[0].norm.running_var
    assert not torch.allclose(before, after)
    for k, v in net.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k]), k
    assert not net.training
    assert not recalibrate_batch_norm(build_model("mnist", "dense"), data, 0.5, g)


def test_all_levels_reports_recalibrated_accuracy_and_restores_statistics():
    torch.manual_seed(0)
    net = build_model("caltech101", "sparse")
    data = _data([c % 101 for c in range(32)], 101, size=64, channels=3)
    stored = {k: v.clone() for k, v in net.state_dict().items()}
    fields = evaluate_all_levels(net, data, seed=0, recalibrate=True)
    assert set(fields["test_accuracy_by_sparsity_bn_recalibrated"]) == set(
        fields["test_accuracy_by_sparsity"]
    )
    assert "test_mean_class_accuracy_by_sparsity_bn_recalibrated" in fields
    for k, v in net.state_dict().items():
        assert torch.equal(v, stored[k]), k
