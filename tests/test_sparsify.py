"""sparsify and the fixed test masks."""

from __future__ import annotations

import math

import pytest
import torch

from sparseconv import apply_fixed_mask, fixed_mask, sparsify
from sparseconv.data.sparsify import check_sparsity, n_removed


@pytest.mark.parametrize("sparsity", [0.0, 0.05, 0.3, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 17, 13)])
def test_removes_exactly_round_of_sparsity_times_pixels(sparsity, shape):
    images = torch.rand(*shape) + 0.5  # no zero pixels of its own
    sparse, mask = sparsify(images, sparsity, torch.Generator().manual_seed(0))
    n, c, h, w = shape
    expected = round(sparsity * h * w)
    assert mask.shape == (n, 1, h, w)
    assert mask.dtype == images.dtype
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (mask == 0).sum(dim=(1, 2, 3)).tolist() == [expected] * n
    # the same pixels in every channel, and the images are multiplied by the mask
    assert torch.equal(sparse, images * mask)
    assert ((sparse == 0).sum(dim=(2, 3)) == expected).all()


def test_n_removed_uses_round():
    assert n_removed(0.05, 28, 28) == round(0.05 * 784) == 39
    assert n_removed(0.9, 64, 64) == round(0.9 * 4096)


def test_same_seed_same_mask_other_seed_other_mask():
    images = torch.rand(4, 3, 16, 16)
    _, a = sparsify(images, 0.5, torch.Generator().manual_seed(7))
    _, b = sparsify(images, 0.5, torch.Generator().manual_seed(7))
    _, c = sparsify(images, 0.5, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_every_pixel_equally_likely_to_be_removed():
    images = torch.ones(4000, 1, 4, 4)
    _, mask = sparsify(images, 0.25, torch.Generator().manual_seed(0))
    removed = (mask == 0).float().mean(dim=0).flatten()  # per-pixel removal rate
    # 4 of 16 removed: rate 0.25, standard error sqrt(.25 * .75 / 4000) ~ 0.007
    assert (removed - 0.25).abs().max() < 0.035


@pytest.mark.parametrize(
    "bad", [1.0, 1.5, -0.2, float("nan"), float("inf"), "0.5", None, True, [0.5]]
)
def test_bad_sparsity_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError) as info:
        sparsify(torch.rand(1, 1, 4, 4), bad)
    assert repr(bad) in str(info.value)


def test_check_sparsity_accepts_numbers():
    assert check_sparsity(0) == 0.0
    assert check_sparsity(0.5) == 0.5


def test_fixed_mask_depends_only_on_seed_sparsity_and_index():
    whole = fixed_mask(range(20), 28, 28, 0.7, seed=3)
    # batch size and order do not matter
    assert torch.equal(fixed_mask([5], 28, 28, 0.7, seed=3)[0], whole[5])
    assert torch.equal(fixed_mask([12, 4], 28, 28, 0.7, seed=3), whole[[12, 4]])
    for start in range(0, 20, 6):
        part = fixed_mask(range(start, min(start + 6, 20)), 28, 28, 0.7, seed=3)
        assert torch.equal(part, whole[start : start + 6])
    # exact counts, and other seeds, levels and images give other masks
    assert ((whole == 0).sum(dim=(1, 2, 3)) == round(0.7 * 784)).all()
    assert not torch.equal(fixed_mask([5], 28, 28, 0.7, seed=4)[0], whole[5])
    assert not torch.equal(whole[0], whole[1])
    other_level = fixed_mask([5], 28, 28, 0.6, seed=3)[0]
    assert not torch.equal(other_level, whole[5])


def test_fixed_mask_is_uniform():
    masks = fixed_mask(range(4000), 4, 4, 0.25, seed=0)
    removed = (masks == 0).float().mean(dim=0).flatten()
    assert (removed - 0.25).abs().max() < 0.035


def test_apply_fixed_mask():
    images = torch.rand(3, 2, 8, 8) + 1
    sparse, mask = apply_fixed_mask(images, [10, 11, 12], 0.5, seed=1)
    assert torch.equal(mask, fixed_mask([10, 11, 12], 8, 8, 0.5, seed=1))
    assert torch.equal(sparse, images * mask)
    with pytest.raises(ValueError, match="sparsity"):
        apply_fixed_mask(images, [0, 1, 2], math.nan)


def test_stream_zero_keeps_the_earlier_protocols_test_masks():
    # digest of fixed_mask(range(50), 28, 28, 0.7, 3) taken from the code before streams
    import hashlib

    masks = fixed_mask(range(50), 28, 28, 0.7, seed=3)
    assert hashlib.sha256(masks.numpy().tobytes()).hexdigest()[:16] == "86ba997a8fa87330"


def test_each_stream_draws_other_masks_with_the_same_sparsity():
    test = fixed_mask(range(200), 28, 28, 0.7, seed=3)
    val = fixed_mask(range(200), 28, 28, 0.7, seed=3, stream=1)
    assert not any(torch.equal(test[i], val[i]) for i in range(200))
    assert (val.sum(dim=(1, 2, 3)) == test.sum(dim=(1, 2, 3))).all()
    # an image's validation mask overlaps its test mask only by chance: 0.3 * 0.3 kept
    overlap = (test * val).sum() / test.sum()
    assert 0.25 < overlap.item() < 0.35
    with pytest.raises(ValueError, match="stream"):
        fixed_mask([0], 4, 4, 0.5, stream=-1)
