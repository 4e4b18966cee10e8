"""Shapiro–Wilk vectors from an independent implementation: SciPy's scipy.stats.shapiro (the
Fortran of AS R94, via swilk) and scipy.special.ndtri, for test/unit/gate-monitor-shapiro.test.ts.
Run with a Python that has SciPy (the test peers' venv does):
  .peers/venv/bin/python test/vectors/shapiro-ref.py > test/vectors/shapiro.json"""
import json
import random

import scipy
from scipy import special, stats

rng = random.Random(1805)  # the samples are fixed: seeded, and written into the vectors
samples = {
    # Shapiro & Wilk (1965), Biometrika 52, p. 602: weights in pounds of 11 men; they give W = 0.79.
    "weights-1965": [148, 154, 158, 160, 161, 162, 166, 170, 182, 195, 236],
    "n3": [1.0, 2.0, 4.0],
    "n4": [2.1, 3.3, 3.4, 7.9],
    "n5": [0.5, 0.6, 0.9, 1.8, 4.0],
    "n6": [10.0, 10.5, 11.2, 11.3, 12.9, 20.0],
    "normal-20": [round(rng.gauss(0, 1), 6) for _ in range(20)],
    "normal-100": [round(rng.gauss(5, 2), 6) for _ in range(100)],
    "uniform-50": [round(rng.random(), 6) for _ in range(50)],
    "exponential-200": [round(rng.expovariate(1.0), 6) for _ in range(200)],
    "bimodal-120": [round(rng.gauss(0 if i % 3 else 4, 0.5), 6) for i in range(120)],
    "lognormal-1000": [round(rng.lognormvariate(0, 1), 6) for _ in range(1000)],
    "ties-40": [round(rng.choice([0.25, 0.5, 0.75, 1.0]), 2) for _ in range(40)],
}
out = {"scipy": scipy.__version__, "shapiro": [], "ndtri": []}
for name, xs in samples.items():
    r = stats.shapiro(xs)
    out["shapiro"].append({"name": name, "x": xs, "w": float(r.statistic), "p": float(r.pvalue)})
for p in [1e-10, 1e-4, 0.01, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-8]:
    out["ndtri"].append({"p": p, "z": float(special.ndtri(p))})
print(json.dumps(out, indent=1))
