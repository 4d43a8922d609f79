"""Discover Lennard-Jones from LJ energies with the Python API (runs in seconds).

    python examples/lj_recovery.py
"""
from symbpot import Dataset, SymbolicPotential
from symbpot.demo import DEMO_EPSILON, DEMO_SIGMA, lj_frames

frames = lj_frames(60, seed=0)  # periodic fcc/bcc/sc/hcp cells, plain LJ sum, hard cutoff 2.5 sigma
data = Dataset.from_frames(frames, cutoff=2.5 * DEMO_SIGMA)
model = SymbolicPotential(cutoff_style="hard", seed=0, time_limit=60, target_rmse=1e-4).fit(data)
print(model.equations_)
best = model.get_best()
print("best:", best)
print("truth: 4 eps sigma^12 =", 4 * DEMO_EPSILON * DEMO_SIGMA**12, " 4 eps sigma^6 =", 4 * DEMO_EPSILON * DEMO_SIGMA**6)
