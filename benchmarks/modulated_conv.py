"""The modulated convolution: one grouped convolution vs a Python loop over the batch.

    python benchmarks/modulated_conv.py [--batch 16] [--repeats 20] [--device cpu]

Prints (never asserts) the median wall time of a forward pass of
  * `course.stylegan.modulated_conv2d`: one `F.conv2d(..., groups=B)` call;
  * the per-sample loop: B calls of `F.conv2d`, each with its own modulated kernel;
and the ratio loop / grouped, measured in the same run on the same inputs (the issue's
target: >= 3x at B = 16 on CPU). Both routes give the same output (checked first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.stylegan import modulate_weights, modulated_conv2d  # noqa: E402

# (channels in, channels out, resolution): layers of a small StyleGAN2 generator.
LAYERS = [(64, 64, 8), (64, 32, 16), (32, 16, 32)]


def loop_conv(x, weight, style):
    """The per-sample route: modulate, then one ordinary convolution per sample."""
    w = modulate_weights(weight, style)  # (B, O, I, k, k)
    return torch.cat([F.conv2d(x[b : b + 1], w[b], padding=1) for b in range(x.shape[0])])


def _median_time(fn, repeats: int, sync) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(batch: int = 16, repeats: int = 20, device: str = "cpu") -> dict[str, float]:
    """Median seconds per forward pass of each route over LAYERS, and their ratio."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gen = torch.Generator().manual_seed(0)
    cases = []
    for c_in, c_out, res in LAYERS:
        x = torch.randn(batch, c_in, res, res, generator=gen).to(dev)
        weight = torch.randn(c_out, c_in, 3, 3, generator=gen).to(dev)
        style = torch.randn(batch, c_in, generator=gen).to(dev)
        torch.testing.assert_close(modulated_conv2d(x, weight, style), loop_conv(x, weight, style))
        cases.append((x, weight, style))
    with torch.no_grad():
        grouped = _median_time(lambda: [modulated_conv2d(*c) for c in cases], repeats, sync)
        loop = _median_time(lambda: [loop_conv(*c) for c in cases], repeats, sync)
    return {"grouped_s": grouped, "loop_s": loop, "ratio": loop / grouped}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    result = run(args.batch, args.repeats, args.device)
    print(f"device {args.device}, B = {args.batch}, torch threads {torch.get_num_threads()}")
    print(f"grouped conv (one call):  {1e3 * result['grouped_s']:8.2f} ms")
    print(f"per-sample loop:          {1e3 * result['loop_s']:8.2f} ms")
    print(f"loop / grouped:           {result['ratio']:8.2f}x")


if __name__ == "__main__":
    main()
