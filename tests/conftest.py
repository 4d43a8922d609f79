"""Shared fixtures: tiny data sets made with ASE (tests never need ../shared)."""
import os

import numpy as np
import pytest

from symbpot import Dataset
from symbpot.demo import DEMO_EPSILON, DEMO_SIGMA, lj_frames

SIGMA = DEMO_SIGMA
EPSILON = DEMO_EPSILON
LJ_CUTOFF = 2.5 * DEMO_SIGMA


@pytest.fixture(scope="session")
def lj_frames_small():
    """50 periodic LJ configurations (fcc, bcc, sc, hcp; 8-64 atoms; rattled)."""
    return lj_frames(50, seed=11)


@pytest.fixture(scope="session")
def lj_dataset(lj_frames_small):
    return Dataset.from_frames(lj_frames_small, LJ_CUTOFF)


@pytest.fixture()
def lj_file(tmp_path, lj_frames_small):
    """The small LJ set written as extended XYZ."""
    import ase.io

    path = tmp_path / "lj.extxyz"
    ase.io.write(path, lj_frames_small[:30], format="extxyz")
    return path


def rattled_cells(n, seed=0, species=("Cu",)):
    """``n`` rattled 2x2x2 cubic Cu cells (fcc, bcc, sc in turn, lattice constants spread by
    4 %); with two species, about 40 % of the atoms are made the second one."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    cells = []
    for k in range(n):
        kind, a = [("fcc", 3.6), ("bcc", 2.87), ("sc", 2.4)][k % 3]
        atoms = bulk("Cu", kind, a=a * (1 + 0.04 * rng.normal()), cubic=True).repeat(2)
        atoms.rattle(0.08, seed=k + 100 * seed)
        if len(species) > 1:
            atoms.symbols[rng.random(len(atoms)) < 0.4] = species[1]
        cells.append(atoms)
    return cells


def random_rotation(seed):
    """A random proper rotation matrix (det +1)."""
    q, rr = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(rr))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@pytest.fixture(scope="session")
def lammps_module():
    """The ``lammps`` module (MPICH loaded first); skipped if unavailable, unless
    ``SYMBPOT_REQUIRE_LAMMPS`` is set (CI), where that is a failure."""
    from symbpot.export import lammps as lx

    try:
        return lx.load_lammps()
    except lx.LammpsUnavailableError as exc:
        if os.environ.get("SYMBPOT_REQUIRE_LAMMPS"):
            pytest.fail(f"SYMBPOT_REQUIRE_LAMMPS is set but LAMMPS cannot be loaded: {exc}")
        pytest.skip(str(exc))
