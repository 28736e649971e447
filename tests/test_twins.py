"""Twins and near duplicates, on hand-made images and splits."""

from __future__ import annotations

import pytest
import torch

from sparseconv.data.twins import (
    crossing_pairs,
    linked_assignment,
    linked_groups,
    near_duplicate_pairs,
    twin_key,
    twin_pairs,
)


def test_twin_key_pairs_faces_with_faces_easy_by_number():
    assert twin_key("Faces_easy/image_0007.jpg") == twin_key("Faces/image_0007.jpg")
    assert twin_key("Faces_easy/image_0007.jpg") != twin_key("Faces/image_0008.jpg")
    assert twin_key("ant/image_0007.jpg") == "ant/image_0007.jpg"
    files = ["Faces/image_0001.jpg", "Faces/image_0002.jpg", "Faces_easy/image_0002.jpg",
             "ant/image_0002.jpg"]  # fmt: skip
    assert twin_pairs(files) == [(1, 2)]


def test_a_recoloured_copy_is_a_near_duplicate_and_noise_is_not():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 64, 64, generator=g) * 255
    recoloured = base[:, [2, 0, 1]] * 0.8 + 10  # channels swapped, darker: same grey picture
    others = torch.rand(5, 3, 64, 64, generator=g) * 255
    flat = torch.full((1, 3, 64, 64), 7.0)  # constant: correlates with nothing
    images = torch.cat([base, recoloured, others, flat, flat])
    pairs = near_duplicate_pairs(images)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert pairs[0][2] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_pairs(images, threshold=0.0)


def test_groups_join_transitively_and_take_the_first_members_split():
    assert linked_groups(6, [(1, 4), (4, 5), (2, 3)]) == [0, 1, 2, 2, 1, 1]
    assignment = ["train", "test", "val", "train", "train", "val"]
    pairs = [(1, 4, 0.999), (4, 5, 0.995), (2, 3, 1.0)]
    assert crossing_pairs(assignment, pairs) == pairs
    fixed = linked_assignment(assignment, pairs)
    assert fixed == ["train", "test", "val", "val", "test", "test"]
    assert crossing_pairs(fixed, pairs) == []
    with pytest.raises(ValueError, match="'tset'"):
        linked_assignment(["tset"], [])
