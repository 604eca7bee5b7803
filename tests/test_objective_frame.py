"""``Frame`` puts each model's own special tokens and prefix/suffix text around a prompt."""

import torch

from fuse_edu.objective import Frame


def test_frame_reads_special_tokens_from_the_tokenizer(gpt2, clip, bert):
    assert Frame.of(gpt2) == Frame((), ())
    assert Frame.of(clip) == Frame((clip.bos_token_id,), (clip.eos_token_id,))
    assert Frame.of(bert) == Frame((bert.cls_token_id,), (bert.sep_token_id,))


def test_framed_ids_equal_tokenizing_the_whole_text(clip):
    frame = Frame.of(clip, prefix_text="a photo of", suffix_text=".")
    prompts = ["a red square", "turquoise hexagon on the left"]
    rows = [clip(p, add_special_tokens=False)["input_ids"] for p in prompts]
    ids = torch.zeros(2, max(map(len, rows)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, row in enumerate(rows):
        ids[b, : len(row)], mask[b, : len(row)] = torch.tensor(row), 1
    framed, framed_mask = frame.apply_ids(ids, mask)
    for b, p in enumerate(prompts):
        assert framed[b, : int(framed_mask[b].sum())].tolist() == clip(f"a photo of {p}.")["input_ids"]


def test_gradient_flows_to_prompt_embeddings_only(clip):
    table = torch.randn(len(clip), 4, dtype=torch.float64)
    embeds = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    framed, framed_mask = Frame.of(clip).apply(embeds, mask, table)
    assert framed_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    torch.testing.assert_close(framed[1, 2], table[clip.eos_token_id])
    framed.sum().backward()
    assert embeds.grad[0].eq(1).all() and embeds.grad[1, 0].eq(1).all() and embeds.grad[1, 1:].eq(0).all()
