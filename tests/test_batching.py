"""``pad_right``: the one right-padded batch layout every wrapper, adapter and optimiser shares."""

from __future__ import annotations

import pytest
import torch

from fuse_edu.batching import pad_right


def test_rows_keep_their_tokens_first_and_padding_after():
    batch = pad_right([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["input_ids"].dtype == batch["attention_mask"].dtype == torch.long


def test_the_pad_id_fills_only_masked_positions():
    batch = pad_right([[1], [2, 3]], pad_id=50256)
    assert batch["input_ids"].tolist() == [[1, 50256], [2, 3]]


def test_equal_rows_need_no_padding_and_land_on_the_device():
    batch = pad_right([[1, 2], [3, 4]], pad_id=9, device="cpu")
    assert batch["attention_mask"].all() and batch["input_ids"].device == torch.device("cpu")


def test_empty_rows_are_refused_unless_allowed():
    with pytest.raises(ValueError, match="cannot pad an empty batch or an empty sequence"):
        pad_right([[1], []], pad_id=0)
    with pytest.raises(ValueError, match="empty batch"):
        pad_right([], pad_id=0, allow_empty=True)
    batch = pad_right([[], []], pad_id=7, allow_empty=True)  # a re-tokenized prompt may give no tokens
    assert batch["input_ids"].tolist() == [[7], [7]] and batch["attention_mask"].tolist() == [[0], [0]]
    mixed = pad_right([[4], []], pad_id=0, allow_empty=True)
    assert mixed["attention_mask"].tolist() == [[1], [0]]


def test_the_models_package_still_offers_it():
    from fuse_edu.models.base import pad_right as from_models

    assert from_models is pad_right
