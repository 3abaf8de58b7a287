#!/usr/bin/env python3
"""Writes the firmware's two feature matrices, data/a_d16.f16.npy and data/b_d24.f16.npy.

N = 256 rows, f16, D = 16 and D = 24. Both are noisy linear views of one shared 8-dimensional
latent, so their kNN graphs agree well above chance (mutual kNN far from k / N). Deterministic:
a fixed seed and numpy's PCG64, so running it again gives the same bytes.
"""
from pathlib import Path

import numpy as np

N, LATENT, SEED = 256, 8, 19
rng = np.random.default_rng(SEED)
z = rng.standard_normal((N, LATENT))
out = Path(__file__).resolve().parent / "data"
out.mkdir(exist_ok=True)
for name, d, noise in [("a_d16", 16, 0.5), ("b_d24", 24, 0.8)]:
    w = rng.standard_normal((LATENT, d)) / np.sqrt(LATENT)
    x = z @ w + noise * rng.standard_normal((N, d))
    np.save(out / f"{name}.f16.npy", x.astype("<f2"))
    print(out / f"{name}.f16.npy", x.shape)
