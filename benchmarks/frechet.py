"""`course.metrics.frechet_distance` vs pytorch-fid's `calculate_frechet_distance`.

    python benchmarks/frechet.py [--dims 64,512,2048] [--repeats 3]

Prints (never asserts), per feature dimension D, the median seconds of both on the same
float64 statistics (covariances of 4·D Gaussian features with correlated dimensions),
the speed ratio, and the relative difference of the two values (targets: >= 5x, <= 1e-9).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.metrics import frechet_distance  # noqa: E402


def _stats(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    feats = rng.standard_normal((4 * d, d)) @ mix + rng.standard_normal(d)
    return feats.mean(0), np.cov(feats, rowvar=False)


def _median(fn, repeats: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), float(value)


def run(d: int, repeats: int = 3) -> dict[str, float]:
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, s1 = _stats(d, 0)
    mu2, s2 = _stats(d, 1)
    t_ours, ours = _median(lambda: frechet_distance(mu1, s1, mu2, s2), repeats)
    t_peer, peer = _median(lambda: calculate_frechet_distance(mu1, s1, mu2, s2), repeats)
    return {"d": d, "ours_s": t_ours, "peer_s": t_peer, "speedup": t_peer / t_ours,
            "rel_diff": abs(ours - peer) / abs(peer)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", default="64,512,2048")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for d in map(int, args.dims.split(",")):
        r = run(d, args.repeats)
        print(f"D = {d:5d}: course {r['ours_s']:.3f} s, pytorch-fid {r['peer_s']:.3f} s, "
              f"{r['speedup']:.1f}x faster, relative difference {r['rel_diff']:.1e}")


if __name__ == "__main__":
    main()
