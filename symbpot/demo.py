"""Built-in demo data: periodic configurations labelled by a plain Lennard-Jones sum.

The labels are the textbook LJ pair sum with a hard cutoff (no shift, no smoothing),
V(r) = 4 eps ((sigma/r)^12 - (sigma/r)^6) for r < rc, over ASE's full neighbour list.
Structures: fcc, bcc, simple cubic and hcp cells of 8 to 64 atoms, compressed and
expanded (nearest-neighbour distance from about 0.92 to 1.5 sigma), rattled.
"""
from __future__ import annotations

import numpy as np

#: Lennard-Jones parameters of the demo (Cu-like, Halicioglu & Pound 1975)
DEMO_SIGMA = 2.338  # Å
DEMO_EPSILON = 0.409  # eV


def lj_energy(atoms, sigma: float, epsilon: float, cutoff: float) -> float:
    """Plain LJ energy with a hard cutoff, summed over ASE's full neighbour list."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, cutoff)
    sr6 = (sigma / d) ** 6
    return float(0.5 * np.sum(4 * epsilon * (sr6 * sr6 - sr6)))


def _lattices(nn_distance: float):
    """(name, unit cell builder, repeats) for each lattice at a nearest-neighbour distance."""
    from ase.build import bulk

    return [
        ("fcc", lambda: bulk("X", "fcc", a=nn_distance * np.sqrt(2), cubic=True), [(2, 2, 2)]),
        ("bcc", lambda: bulk("X", "bcc", a=nn_distance * 2 / np.sqrt(3), cubic=True), [(2, 2, 2), (3, 3, 3)]),
        ("sc", lambda: bulk("X", "sc", a=nn_distance), [(2, 2, 2), (3, 3, 3), (4, 4, 4)]),
        ("hcp", lambda: bulk("X", "hcp", a=nn_distance, c=nn_distance * np.sqrt(8 / 3)),
         [(2, 2, 2), (3, 3, 2)]),
    ]


def lj_frames(
    n_frames: int = 60,
    sigma: float = DEMO_SIGMA,
    epsilon: float = DEMO_EPSILON,
    cutoff: float | None = None,
    seed: int = 0,
    symbol: str = "Ar",
    rattle: float = 0.04,
):
    """Make ``n_frames`` labelled configurations (energies in ``atoms.info['energy']``).

    Parameters
    ----------
    n_frames : int
        Number of configurations (cycled over fcc, bcc, sc, hcp).
    sigma, epsilon : float
        LJ parameters (Å, eV).
    cutoff : float, optional
        Hard cutoff of the labels, default 2.5 sigma.
    seed : int
        Seed of the random densities and displacements.
    symbol : str
        Chemical symbol of the atoms.
    rattle : float
        Standard deviation of the random displacements, in units of sigma.
    """
    cutoff = 2.5 * sigma if cutoff is None else cutoff
    rng = np.random.default_rng(seed)
    frames = []
    k = 0
    while len(frames) < n_frames:
        nn = sigma * rng.uniform(0.95, 1.5) * 2 ** (1 / 6) / 1.12
        name, make, repeats = _lattices(nn)[k % 4]
        rep = repeats[rng.integers(len(repeats))]
        atoms = make().repeat(rep)
        atoms.symbols[:] = symbol
        atoms.positions += rng.normal(0, rattle * sigma, atoms.positions.shape)
        k += 1
        if not 8 <= len(atoms) <= 64:
            continue
        from ase.neighborlist import neighbor_list

        if neighbor_list("d", atoms, 0.85 * sigma).size:  # keep clear of the steep wall
            continue
        atoms.info["energy"] = lj_energy(atoms, sigma, epsilon, cutoff)
        atoms.info["lattice"] = name
        frames.append(atoms)
    return frames
