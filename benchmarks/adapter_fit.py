"""Benchmark the FUSE adapter: fit speed against the reference implementation's method, end-to-end build
time for paper-shaped tables, and the batched backward pass.

Run: python benchmarks/adapter_fit.py [--quick] [--json OUT.json]

1. Fit: n = 4096 words per bucket, d_A = 1024, d_B = 512, K = 1..4, random tensors. Baseline, run
   in the same process: what the reference implementation does, an explicit complex pseudo-inverse of
   every slice of the *full* FFT, then the t-product with X_B. Ours: ``fit_bucket`` (real FFT,
   Cholesky normal equations, real arithmetic for real slices). Reports the speed ratio (goal >= 5x)
   and our residual relative to the baseline's (goal: within 1%).
2. End-to-end: ``FuseAdapter.fit`` for gpt2-medium-shaped (50257 x 1024) -> CLIP-B/32-shaped
   (49408 x 512) random tables with the real tokenizers, 16k words per bucket (goal <= 15 s on 2 cores),
   with each stage's time.
3. Backward: 512 prompts x 20 GPT-2 tokens through ``FuseTranslator`` (GPT-2 -> CLIP), forward
   (tokenization and planning) and backward timed separately, on the CPU and on CUDA when present.
Machines are noisy: the ratios, measured back to back in one run, are the numbers to trust.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fuse_edu.adapter import FuseAdapter, FuseTranslator, fit_bucket, fit_residual


def baseline_fit(X_A: torch.Tensor, X_B: torch.Tensor) -> torch.Tensor:
    """Reference method: pinv of every full-FFT slice, multiplied into X_B's slices, inverse FFT."""
    A_hat = torch.fft.fft(X_A, dim=2).permute(2, 0, 1)      # (K, n, d_A) complex
    B_hat = torch.fft.fft(X_B, dim=2).permute(2, 0, 1)      # (K, n, d_B)
    T_hat = torch.linalg.pinv(A_hat) @ B_hat                 # (K, d_A, d_B)
    return torch.fft.ifft(T_hat.permute(1, 2, 0), dim=2).real  # (d_A, d_B, K)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def bench_fit(n: int, d_A: int, d_B: int, Ks: list[int]) -> dict:
    rows, ours_total, base_total = [], 0.0, 0.0
    for K in Ks:
        g = torch.Generator().manual_seed(K)
        X_A, X_B = torch.randn(n, d_A, K, generator=g), torch.randn(n, d_B, K, generator=g)
        T_base, t_base = timed(baseline_fit, X_A, X_B)
        T_ours, t_ours = timed(fit_bucket, X_A, X_B)
        residual_ratio = fit_residual(X_A, X_B, T_ours) / fit_residual(X_A, X_B, T_base)
        rows.append({"K": K, "baseline_s": t_base, "ours_s": t_ours, "speedup": t_base / t_ours,
                     "residual_vs_baseline": residual_ratio})
        ours_total, base_total = ours_total + t_ours, base_total + t_base
        print(f"  K={K}: baseline {t_base:6.2f} s  ours {t_ours:5.2f} s  speed-up {t_base / t_ours:5.1f}x  "
              f"residual ours/baseline {residual_ratio:.5f}", flush=True)
    print(f"  all K: speed-up {base_total / ours_total:.1f}x (goal >= 5x)")
    return {"rows": rows, "speedup_total": base_total / ours_total}


def bench_end_to_end(words_per_bucket: int) -> dict:
    from fuse_edu.text import load_tokenizer

    gpt2, clip = load_tokenizer("gpt2"), load_tokenizer("clip")
    g = torch.Generator().manual_seed(0)
    src = (gpt2, torch.randn(len(gpt2), 1024, generator=g) * 0.02)   # gpt2-medium's table shape
    dst = (clip, torch.randn(len(clip), 512, generator=g) * 0.02)    # CLIP ViT-B/32's text table shape
    adapter, seconds = timed(lambda: FuseAdapter.fit(src, dst, words_per_bucket=words_per_bucket, cache=False))
    timings = adapter.info["timings"]
    for stage, value in timings.items():
        print(f"  {stage:18s} {value:6.2f} s")
    print(f"  total              {seconds:6.2f} s (goal <= 15 s); words per bucket {adapter.info['words_per_bucket_fitted']}")
    return {"seconds": seconds, "stages": timings, "words_per_bucket": adapter.info["words_per_bucket_fitted"]}, adapter, src, dst


def bench_backward(adapter, src, dst, n_prompts: int, n_tokens: int, device: torch.device) -> dict:
    from wordfreq import top_n_list

    gpt2, src_table = src
    clip, dst_table = dst
    words = top_n_list("en", 5000)
    g = torch.Generator().manual_seed(1)
    texts = [" ".join(words[i] for i in torch.randint(0, len(words), (n_tokens,), generator=g).tolist())
             for _ in range(n_prompts)]
    ids = torch.tensor([gpt2(t, add_special_tokens=False)["input_ids"][:n_tokens] for t in texts])  # (B, T_A)
    mask = torch.ones_like(ids)
    translator = FuseTranslator(gpt2, clip, dst_table.to(device), adapter.to(device))
    src_embeds = src_table.to(device)[ids.to(device)].requires_grad_(True)          # (B, T_A, d_A)
    out, forward_s = timed(translator, ids, src_embeds, mask)
    upstream = torch.randn(out[0].shape, device=device)

    def backward():
        out[0].backward(upstream, retain_graph=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    backward()  # warm-up
    _, backward_s = timed(backward)
    print(f"  {device.type}: {n_prompts} prompts x {n_tokens} tokens: forward {forward_s * 1000:.0f} ms "
          f"(decode, re-tokenize, plan), backward {backward_s * 1000:.1f} ms")
    return {"device": device.type, "forward_ms": forward_s * 1000, "backward_ms": backward_s * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    n, d_A, d_B, wpb = (512, 128, 64, 2000) if args.quick else (4096, 1024, 512, 16_000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"1. fit: n={n}, d_A={d_A}, d_B={d_B}")
    results = {"fit": bench_fit(n, d_A, d_B, [1, 2, 3, 4])}
    print(f"2. end-to-end FuseAdapter.fit, {wpb} words per bucket")
    results["end_to_end"], adapter, src, dst = bench_end_to_end(wpb)
    print("3. backward through FuseTranslator")
    results["backward"] = [bench_backward(adapter, src, dst, 512, 20, torch.device("cpu"))]
    if torch.cuda.is_available():
        results["backward"].append(bench_backward(adapter, src, dst, 512, 20, torch.device("cuda")))
    else:
        print("  cuda: not available on this machine")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
