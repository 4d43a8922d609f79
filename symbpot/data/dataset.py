"""Dataset: frames, targets and neighbour pairs packed into flat arrays.

Neighbour pairs are built once per configuration with ``ase.neighborlist.neighbor_list``
(the full list: both i->j and j->i, including an atom's pairs with its own periodic
images) and concatenated over the whole data set, CSR-style, so that every kernel
sees flat arrays only.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import ConfigError, DataError

#: closest approach (Å) below which two atoms are considered to overlap
MIN_DISTANCE = 0.3


def check_cutoff(cutoff) -> float:
    """Return the cutoff as a float or raise :class:`ConfigError`."""
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise ConfigError(f"cutoff must be a number, got {cutoff!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"cutoff must be a positive number of Å, got {cutoff!r}")
    return value


def read_energy(atoms, key: str):
    """The energy stored under ``key`` (info or attached calculator), or ``None``."""
    return _read(atoms, key, "info")


def _read(atoms, key: str, where: str):
    store = atoms.info if where == "info" else atoms.arrays
    if key in store:
        return store[key]
    if where == "arrays" and key in atoms.info:
        return atoms.info[key]
    results = getattr(atoms.calc, "results", None) or {}
    return results.get(key)


def read_forces(atoms, key: str, source: str):
    """Forces (N, 3) under ``key`` (arrays or calculator), or ``None``; non-finite -> DataError."""
    if not key:
        return None
    forces = _read(atoms, key, "arrays")
    if forces is None:
        return None
    forces = np.asarray(forces, dtype=float)
    if forces.shape != (len(atoms), 3):
        raise DataError(f"{source}: forces under {key!r} have shape {forces.shape}, expected ({len(atoms)}, 3)")
    if not np.all(np.isfinite(forces)):
        raise DataError(f"{source}: forces under {key!r} are not all finite")
    return forces


def read_stress(atoms, key: str, source: str):
    """Stress in ASE's Voigt order (xx, yy, zz, yz, xz, xy), eV/Å^3, or ``None``."""
    if not key:
        return None
    stress = _read(atoms, key, "info")
    if stress is None:
        return None
    stress = np.asarray(stress, dtype=float)
    if stress.shape == (3, 3):
        stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    if stress.shape != (6,):
        raise DataError(f"{source}: stress under {key!r} has shape {stress.shape}, expected (6,) or (3, 3)")
    if not np.all(np.isfinite(stress)):
        raise DataError(f"{source}: stress under {key!r} is not all finite")
    if not all(atoms.pbc) or atoms.cell.volume <= 0:
        return None  # a stress needs a periodic cell with a volume
    return stress


GROUP_KEYS = ("group", "config_type", "mlearn_group")


def read_group(atoms, key: str | None) -> str:
    keys = (key,) if key else GROUP_KEYS
    for k in keys:
        if k in atoms.info:
            return str(atoms.info[k])
    return "default"


@dataclass
class Dataset:
    """Atomic configurations with their energies and packed neighbour pairs.

    Attributes
    ----------
    frames : list of ase.Atoms
    energies : (S,) float array, total energies in eV
    cutoff : float, neighbour cutoff in Å
    species : tuple of str, sorted chemical symbols present
    species_counts : (S, n_species) int array
    n_atoms : (S,) int array
    atom_offsets, pair_offsets : (S + 1,) int arrays (CSR offsets into atoms and pairs)
    pair_i, pair_j : (P,) int arrays, global atom indices of each (full-list) pair
    pair_distance : (P,) float array
    pair_vector : (P, 3) float array, r_j - r_i (with the periodic shift)
    pair_structure : (P,) int array, structure index of each pair
    sources : list of str, "file:index" of each frame (for messages)
    forces : (N_total, 3) float array (zeros where a structure has none), eV/Å
    has_forces : (S,) bool array
    stress : (S, 6) float array, ASE Voigt order and sign (eV/Å^3; zeros where absent)
    has_stress : (S,) bool array (only periodic cells with a stress)
    volume : (S,) float array, cell volume in Å^3 (0 for non-periodic)
    groups : list of str, the group of each structure (info "group", "config_type" or
        "mlearn_group"; "default" otherwise) for per-group weights and errors
    """

    frames: list
    energies: np.ndarray
    cutoff: float
    species: tuple
    species_counts: np.ndarray
    n_atoms: np.ndarray
    atom_offsets: np.ndarray
    pair_offsets: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    pair_distance: np.ndarray
    pair_vector: np.ndarray
    pair_structure: np.ndarray
    sources: list
    forces: np.ndarray = None
    has_forces: np.ndarray = None
    stress: np.ndarray = None
    has_stress: np.ndarray = None
    volume: np.ndarray = None
    groups: list = None
    skipped: list = field(default_factory=list)

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        cutoff: float,
        energy_key: str = "energy",
        index: str = ":",
        skip_bad_frames: bool = False,
        forces_key: str | None = "forces",
        stress_key: str | None = "stress",
        group_key: str | None = None,
    ) -> "Dataset":
        """Read one or several files (any format ASE reads) and pack them.

        Forces and stresses are read where present (``forces_key`` / ``stress_key``;
        ``None`` ignores them); structures without them simply lack those targets.

        Raises
        ------
        DataError
            A file is missing, unreadable, empty, or a frame has no finite energy.
        ConfigError
            The cutoff is not a positive number.
        """
        import ase.io

        cutoff = check_cutoff(cutoff)
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if len(paths) == 0:
            raise DataError("no data files given")
        frames, sources = [], []
        for path in paths:
            path = os.fspath(path)
            if not os.path.exists(path):
                raise DataError(f"{path}: no such file")
            if os.path.isdir(path):
                raise DataError(f"{path}: is a directory, not a data file")
            if os.path.getsize(path) == 0:
                raise DataError(f"{path}: file is empty")
            try:
                read = ase.io.read(path, index=index)
            except Exception as exc:  # ASE raises many types for unreadable files
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DataError(f"{path}: cannot read as atomic configurations ({msg})") from None
            read = read if isinstance(read, list) else [read]
            if not read:
                raise DataError(f"{path}: contains no configurations")
            frames.extend(read)
            sources.extend(f"{path}:{k}" for k in range(len(read)))
        return cls.from_frames(frames, cutoff, energy_key=energy_key, sources=sources,
                               skip_bad_frames=skip_bad_frames, forces_key=forces_key, stress_key=stress_key,
                               group_key=group_key)

    @classmethod
    def from_frames(
        cls,
        frames: Iterable,
        cutoff: float,
        energy_key: str = "energy",
        sources: Sequence[str] | None = None,
        skip_bad_frames: bool = False,
        forces_key: str | None = "forces",
        stress_key: str | None = "stress",
        group_key: str | None = None,
    ) -> "Dataset":
        """Pack a list of ``ase.Atoms`` whose energies are under ``energy_key``."""
        from ase.neighborlist import neighbor_list

        cutoff = check_cutoff(cutoff)
        frames = list(frames)
        if sources is None:
            sources = [f"frame {k}" for k in range(len(frames))]
        if not frames:
            raise DataError("no configurations given")
        kept, kept_sources, energies = [], [], []
        targets = []
        pairs = []
        skipped = []
        for atoms, source in zip(frames, sources):
            try:
                energy = cls._check_frame(atoms, source, energy_key)
                target = (read_forces(atoms, forces_key, source), read_stress(atoms, stress_key, source),
                          read_group(atoms, group_key))
                i, j, d, vec = neighbor_list("ijdD", atoms, cutoff)
                if len(d) and d.min() < MIN_DISTANCE:
                    raise DataError(
                        f"{source}: atoms overlap (distance {d.min():.3g} Å < {MIN_DISTANCE} Å)")
            except DataError as exc:
                if not skip_bad_frames:
                    raise
                skipped.append(str(exc))
                continue
            kept.append(atoms)
            kept_sources.append(source)
            energies.append(energy)
            targets.append(target)
            pairs.append((i, j, d, vec))
        if not kept:
            raise DataError(f"no usable configurations ({len(skipped)} skipped: {skipped[0]})")
        dataset = cls._pack(kept, np.array(energies, dtype=float), cutoff, pairs, kept_sources, targets)
        dataset.skipped = skipped
        if len(dataset.pair_distance) == 0:
            raise DataError(f"no atom pairs within the cutoff of {cutoff} Å in any configuration")
        return dataset

    @staticmethod
    def _check_frame(atoms, source: str, energy_key: str) -> float:
        if len(atoms) == 0:
            raise DataError(f"{source}: configuration has no atoms")
        energy = read_energy(atoms, energy_key)
        if energy is None:
            raise DataError(f"{source}: no energy under the key {energy_key!r}")
        try:
            energy = float(energy)
        except (TypeError, ValueError):
            raise DataError(f"{source}: energy {energy!r} is not a number") from None
        if not math.isfinite(energy):
            raise DataError(f"{source}: energy is {energy}")
        if not np.all(np.isfinite(atoms.positions)):
            raise DataError(f"{source}: positions are not all finite")
        return energy

    @classmethod
    def _pack(cls, frames, energies, cutoff, pairs, sources, targets) -> "Dataset":
        n_atoms = np.array([len(a) for a in frames], dtype=np.int64)
        atom_offsets = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
        n_pairs = np.array([len(p[2]) for p in pairs], dtype=np.int64)
        pair_offsets = np.concatenate([[0], np.cumsum(n_pairs)]).astype(np.int64)
        species = tuple(sorted({s for a in frames for s in a.get_chemical_symbols()}))
        column = {s: k for k, s in enumerate(species)}
        counts = np.zeros((len(frames), len(species)), dtype=np.int64)
        for row, atoms in enumerate(frames):
            for symbol in atoms.get_chemical_symbols():
                counts[row, column[symbol]] += 1
        if pairs and n_pairs.sum():
            pair_i = np.concatenate([p[0] + atom_offsets[s] for s, p in enumerate(pairs)])
            pair_j = np.concatenate([p[1] + atom_offsets[s] for s, p in enumerate(pairs)])
            distance = np.concatenate([p[2] for p in pairs])
            vector = np.concatenate([p[3] for p in pairs])
        else:
            pair_i = pair_j = np.zeros(0, dtype=np.int64)
            distance = np.zeros(0)
            vector = np.zeros((0, 3))
        structure = np.repeat(np.arange(len(frames), dtype=np.int64), n_pairs)
        forces = np.zeros((int(atom_offsets[-1]), 3))
        has_forces = np.array([t[0] is not None for t in targets], dtype=bool)
        for s, t in enumerate(targets):
            if t[0] is not None:
                forces[atom_offsets[s]:atom_offsets[s + 1]] = t[0]
        has_stress = np.array([t[1] is not None for t in targets], dtype=bool)
        stress = np.array([t[1] if t[1] is not None else np.zeros(6) for t in targets]).reshape(-1, 6)
        volume = np.array([a.cell.volume if all(a.pbc) else 0.0 for a in frames], dtype=float)
        return cls(
            frames=list(frames), energies=np.asarray(energies, dtype=float), cutoff=float(cutoff),
            species=species, species_counts=counts, n_atoms=n_atoms, atom_offsets=atom_offsets,
            pair_offsets=pair_offsets, pair_i=pair_i.astype(np.int64), pair_j=pair_j.astype(np.int64),
            pair_distance=np.ascontiguousarray(distance, dtype=float),
            pair_vector=np.ascontiguousarray(vector, dtype=float), pair_structure=structure,
            sources=list(sources), forces=forces, has_forces=has_forces, stress=stress, has_stress=has_stress,
            volume=volume, groups=[t[2] for t in targets],
        )

    # --- views --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frames)

    @property
    def n_pairs(self) -> int:
        return int(len(self.pair_distance))

    @property
    def min_distance(self) -> float:
        return float(self.pair_distance.min())

    def subset(self, indices) -> "Dataset":
        """A dataset of the structures ``indices`` (pairs are re-used, not rebuilt)."""
        indices = np.asarray(indices, dtype=np.int64)
        pairs, targets = [], []
        for s in indices:
            lo, hi = self.pair_offsets[s], self.pair_offsets[s + 1]
            base = self.atom_offsets[s]
            pairs.append((self.pair_i[lo:hi] - base, self.pair_j[lo:hi] - base,
                          self.pair_distance[lo:hi], self.pair_vector[lo:hi]))
            targets.append((self.forces[base:self.atom_offsets[s + 1]] if self.has_forces[s] else None,
                            self.stress[s] if self.has_stress[s] else None, self.groups[s]))
        return Dataset._pack([self.frames[s] for s in indices], self.energies[indices], self.cutoff,
                             pairs, [self.sources[s] for s in indices], targets)

    def restrict_cutoff(self, cutoff: float) -> "Dataset":
        """The same structures with only the pairs shorter than ``cutoff`` (self if none is longer)."""
        if cutoff >= self.cutoff or not np.any(self.pair_distance >= cutoff):
            return self
        keep = self.pair_distance < cutoff
        counts = np.bincount(self.pair_structure[keep], minlength=len(self))
        new = Dataset(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        new.cutoff = float(cutoff)
        new.pair_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        for name in ("pair_i", "pair_j", "pair_distance", "pair_vector", "pair_structure"):
            setattr(new, name, np.ascontiguousarray(getattr(self, name)[keep]))
        if new.n_pairs == 0:
            raise DataError(f"no atom pairs within the cutoff of {cutoff} Å in any configuration")
        return new

    def split(self, validation_fraction: float, seed: int = 0):
        """Random split into ``(train, validation)``; validation gets at least one structure."""
        if not 0 < validation_fraction < 1:
            raise ConfigError(f"validation fraction must be between 0 and 1, got {validation_fraction}")
        if len(self) < 2:
            raise DataError("need at least two configurations for a validation split")
        order = np.random.default_rng(seed).permutation(len(self))
        n_val = min(len(self) - 1, max(1, int(round(validation_fraction * len(self)))))
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def species_counts_for(self, species: Sequence[str]) -> np.ndarray:
        """Species counts with columns in the order ``species`` (zeros for absent ones)."""
        out = np.zeros((len(self), len(species)), dtype=np.int64)
        for k, s in enumerate(species):
            if s in self.species:
                out[:, k] = self.species_counts[:, self.species.index(s)]
        return out
