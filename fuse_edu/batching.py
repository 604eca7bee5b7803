"""Right-padded batches of token ids: the one layout every model wrapper, adapter and optimiser shares.

Rows hold their real tokens first and padding after (``attention_mask`` 1 then 0), so position i of
every row is the i-th token and positional embeddings need no shifting.
"""

from __future__ import annotations

import torch


def pad_right(rows: list[list[int]], pad_id: int, device: torch.device | str = "cpu",
              allow_empty: bool = False) -> dict[str, torch.Tensor]:
    """Lists of ids of different lengths -> ``input_ids`` and ``attention_mask``, (B, T) each, right-padded.

    One scatter for the whole batch, no loop per row. An empty row is an error unless ``allow_empty`` (a
    re-tokenized prompt may give no tokens: it keeps one masked slot, T >= 1).
    """
    if not rows or (not allow_empty and min(len(r) for r in rows) == 0):
        raise ValueError("cannot pad an empty batch or an empty sequence; every text must give at least one token")
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)                     # (B,)
    width = max(1, int(lengths.max()))
    attention_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()            # (B, T)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)                # (B, T)
    input_ids[attention_mask.bool()] = torch.tensor([t for r in rows for t in r], dtype=torch.long)
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
