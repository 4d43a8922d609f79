"""The sklearn-shaped estimator: ``SymbolicPotential(...).fit(dataset)``.

Rule for ``get_best()`` (documented in the README): among the Pareto front, take the
simplest member whose loss (on the validation set if there is one, else on the training
set; computed exactly, not on the grid) has a square root within ``selection_tolerance``
(relative, default 5 %) of the best member's, or within 1e-6 of it (0.001 meV/atom for an
energy-only loss). For an energy-only loss sqrt(loss) is the energy RMSE in eV/atom.
Members without a repulsive core (U' < 0 and U > 0 on [0.5, 1] x the shortest distance
in the training data, so that atoms pushed closer than any DFT example are repelled, not
sucked in) are only considered if no member has one; ``metrics["repulsive_core"]``
records the check for every member. With ``max_nodes``, only members whose simplified
closed form (all functions together) has at most that many nodes are considered; if none
has, the rule falls back to the whole front and says so in a warning.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable

import numpy as np

from .data import Dataset
from .errors import ConfigError, SymbpotWarning
from .expr import DEFAULT_OPERATORS
from .fitness import PairLoss, energy_errors
from .fitness.direct import EV_PER_A3_IN_GPA, fit_reference_energies, force_stress_errors, structure_pair_energies
from .fitness.energy import DEFAULT_GRID_SIZE
from .fitness.exact import ExactLoss, with_stress_offset
from .fitness.manybody import core_radii
from .forms.cutoff import DEFAULT_WIDTH, Cutoff
from .front import FrontTable, closed_form
from .gp import Search, SearchConfig, combine_terms
from .gp.engine import is_repulsive
from .forms.templates import TEMPLATE_NAMES, parse_seed_forms, template, template_genome
from .potential import Potential

FORMS = ("pair", "eam") + TEMPLATE_NAMES
ABSOLUTE_TOLERANCE = 1e-6  # on sqrt(loss): 0.001 meV/atom for an energy-only loss


class SymbolicPotential:
    """Discover a closed-form interatomic potential by genetic programming.

    Parameters
    ----------
    form : {"pair", "eam", "lj", "morse", "buckingham", "finnis-sinclair", "sutton-chen"}
        Functional form: ``pair`` evolves V(r) (one function per species pair when the data
        has several species), ``eam`` evolves phi(r), g(r) and F(rho) together; the
        template names fit that template's constants alone (no evolution, see
        :mod:`symbpot.forms.templates`).
    seed_forms : sequence of str
        Templates put into the initial population of a ``pair`` or ``eam`` search.
    template_starts : int
        Starting points of the constant fit of a template form.
    batch_fraction : float or None
        Many-body searches only: select on a fixed random fraction of the training
        structures (PySR-style batching; cheaper) and score every candidate that becomes
        the best of its complexity there on the whole set; the front is the whole set's.
    seed : int
        Seed of the search; with the same data and settings the result is identical.
    time_limit : float or None
        Wall-clock budget of the search in seconds.
    generations : int or None
        Maximum number of generations (None: until the time limit).
    population : int
        Population size (rounded up to a multiple of 4).
    cutoff : float or None
        Cutoff radius in Å (default: the data set's cutoff).
    cutoff_style : {"smooth", "shift", "hard"}
    cutoff_width : float
        Width of the smoothing window in Å (``smooth`` only).
    grid_size : int
        Nodes of the radial grid used by the fast fitness.
    max_size, max_depth : int
        Limits on tree size and depth, applied when offspring are made.
    operators : sequence of str
        Registry operators the trees may use.
    validation_fraction : float
        Fraction of structures held out (random split) when ``fit`` gets no validation set.
    target_rmse : float or None
        Stop (after ``patience`` more generations) once sqrt(loss) on the grid reaches this
        in meV/atom (for an energy-only loss, the training energy RMSE).
    energy_weight, force_weight, stress_weight : float
        Weights of the energy (eV/atom), force (eV/Å) and stress (GPa) terms of the loss.
    stress_offset : bool
        Fit an isotropic offset of the DFT stresses (the same in every cell, such as VASP's
        Pulay stress) as one more free parameter; see :mod:`symbpot.fitness.exact`. Needs a
        positive stress weight. The fitted offset is ``metrics["stress_offset_GPa"]``; stress
        errors are then against the DFT stress less the offset.
    group_weights : dict or None
        Per-group structure weights ``{group: weight}`` (groups from the frames' info
        ``group``, ``config_type`` or ``mlearn_group``); other groups weigh 1.
    selection_tolerance : float
        Relative tolerance of the ``get_best`` rule.
    max_nodes : int or None
        Largest closed form ``get_best`` may choose: nodes of the simplified expression
        (for many-body forms summed over phi, g and F), as in ``pareto.csv``'s ``size``.
    progress : callable, bool or None
        Called with a dict per generation; ``True`` prints a progress line to stderr.
    workers : int
        Islands (:mod:`symbpot.gp.islands`): local worker processes evolving islands in
        parallel. 1 (and no ``scheduler``, one island) is the single-population search.
    scheduler : str, distributed.Client or None
        Address of a Dask scheduler (e.g. ``tcp://127.0.0.1:8786``) whose workers run the
        islands instead of local processes (needs ``symbpot[dask]``).
    islands : int or None
        Number of islands (populations of ``population`` each); default: twice the number
        of workers (Dask: of worker threads), which balances the load. Island ``k`` is
        seeded with ``seed + k``.
    migration_interval : int
        Generations an island evolves between migrations.
    """

    def __init__(self, form: str = "pair", seed: int = 0, time_limit: float | None = 60.0,
                 generations: int | None = None, population: int = 200, cutoff: float | None = None,
                 cutoff_style: str = "smooth", cutoff_width: float = DEFAULT_WIDTH,
                 grid_size: int = DEFAULT_GRID_SIZE, max_size: int = 30, max_depth: int = 8,
                 operators=DEFAULT_OPERATORS, validation_fraction: float = 0.0,
                 target_rmse: float | None = None, selection_tolerance: float = 0.05,
                 max_nodes: int | None = None,
                 refine_per_generation: int = 3, energy_weight: float = 1.0, force_weight: float = 0.0,
                 stress_weight: float = 0.0, group_weights: dict | None = None, stress_offset: bool = False,
                 progress: Callable | bool | None = None, seed_forms=(), template_starts: int = 8,
                 batch_fraction: float | None = None, workers: int = 1, scheduler=None,
                 islands: int | None = None, migration_interval: int = 10):
        self.form = form
        self.seed_forms = tuple(parse_seed_forms(seed_forms))
        self.template_starts = template_starts
        self.batch_fraction = batch_fraction
        self.seed = seed
        self.time_limit = time_limit
        self.generations = generations
        self.population = population
        self.cutoff = cutoff
        self.cutoff_style = cutoff_style
        self.cutoff_width = cutoff_width
        self.grid_size = grid_size
        self.max_size = max_size
        self.max_depth = max_depth
        self.operators = tuple(operators)
        self.validation_fraction = validation_fraction
        self.target_rmse = target_rmse
        self.selection_tolerance = selection_tolerance
        self.max_nodes = max_nodes
        self.refine_per_generation = refine_per_generation
        self.energy_weight = energy_weight
        self.force_weight = force_weight
        self.stress_weight = stress_weight
        self.stress_offset = bool(stress_offset)
        self.group_weights = group_weights
        self.progress = progress
        self.workers = workers
        self.scheduler = scheduler
        self.islands = islands
        self.migration_interval = migration_interval

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in (
            "form", "seed", "time_limit", "generations", "population", "cutoff", "cutoff_style",
            "cutoff_width", "grid_size", "max_size", "max_depth", "operators", "validation_fraction",
            "target_rmse", "selection_tolerance", "max_nodes", "refine_per_generation", "energy_weight", "force_weight",
            "stress_weight", "group_weights", "stress_offset", "seed_forms", "template_starts", "batch_fraction",
            "workers", "scheduler", "islands", "migration_interval")}

    # --- checks -------------------------------------------------------------------
    def check(self, dataset: Dataset) -> Cutoff:
        """Check the settings against ``dataset`` (ConfigError) before any work; returns the cutoff."""
        return self._check(dataset)

    def _check(self, dataset: Dataset) -> Cutoff:
        if self.form not in FORMS:
            raise ConfigError(f"unknown form {self.form!r} (this version supports: {', '.join(FORMS)})")
        if self.time_limit is not None and not (self.time_limit > 0):
            raise ConfigError(f"time limit must be positive, got {self.time_limit}")
        if self.generations is not None and self.generations < 0:
            raise ConfigError(f"generations must be >= 0, got {self.generations}")
        if self.time_limit is None and self.generations is None and self.target_rmse is None:
            raise ConfigError("give a time limit, a number of generations or a target RMSE")
        for name in ("energy_weight", "force_weight", "stress_weight"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"{name.replace('_', ' ')} must be a non-negative number, got {value}")
        if not (self.energy_weight > 0 or (self.force_weight > 0 and dataset.has_forces.any())
                or (self.stress_weight > 0 and dataset.has_stress.any())):
            raise ConfigError("the loss has no terms: give a positive weight to energies, or to forces or "
                              "stresses present in the data")
        if self.stress_offset and not (self.stress_weight > 0 and dataset.has_stress.any()):
            raise ConfigError("a stress offset needs stresses in the loss: a positive stress weight and data with "
                              "stresses")
        if self.population < 4:
            raise ConfigError(f"population must be at least 4, got {self.population}")
        if self.batch_fraction is not None and not 0 < self.batch_fraction <= 1:
            raise ConfigError(f"batch fraction must be in (0, 1], got {self.batch_fraction}")
        if not (isinstance(self.grid_size, (int, np.integer)) and self.grid_size >= 4):
            raise ConfigError(f"grid size must be an integer of at least 4 nodes, got {self.grid_size}")
        if self.max_nodes is not None and not (isinstance(self.max_nodes, (int, np.integer)) and self.max_nodes >= 1):
            raise ConfigError(f"max nodes must be a positive integer, got {self.max_nodes}")
        self._check_islands()
        if self.validation_fraction and len(dataset) < 2:
            raise ConfigError("a validation split needs at least two configurations")
        if self.group_weights:
            from .fitness.energy import structure_weights

            try:
                structure_weights(dataset, self._structure_weights(dataset))
            except ValueError:
                raise ConfigError("group weights must be non-negative and give some structure a positive "
                                  "weight") from None
        rc = dataset.cutoff if self.cutoff is None else float(self.cutoff)
        if not (rc > 0):
            raise ConfigError(f"cutoff must be positive, got {rc}")
        if rc > dataset.cutoff + 1e-12:
            raise ConfigError(f"cutoff {rc} Å exceeds the cutoff the data pairs were built with "
                              f"({dataset.cutoff} Å)")
        return Cutoff(rc, self.cutoff_style, min(self.cutoff_width, rc))

    # --- fitting ------------------------------------------------------------------
    def fit(self, dataset: Dataset, validation: Dataset | None = None, checkpoint: str | None = None,
            resume: dict | None = None, checkpoint_interval: float = 10.0) -> "SymbolicPotential":
        """Search for potentials on ``dataset``; returns self (see :meth:`_fit`).

        ``checkpoint``: a file to write the search state to after generations (at most
        every 10 s) and at the end. ``resume``: a state read from such a file; the search
        continues from it (``time_limit`` and ``generations`` then count on top of what
        the earlier run did).
        """
        from .malloc import keep_freed_memory
        from .threads import single_threaded_blas

        keep_freed_memory()  # the search's temporary arrays reuse freed memory (see symbpot.malloc)
        with single_threaded_blas():
            return self._fit(dataset, validation, checkpoint, resume, checkpoint_interval)

    def _fit(self, dataset: Dataset, validation: Dataset | None, checkpoint: str | None,
             resume: dict | None, checkpoint_interval: float) -> "SymbolicPotential":
        """Search for potentials on ``dataset``; returns self.

        Fitted attributes: ``front_`` (list of Potential, by complexity), ``equations_``
        (the front as a :class:`FrontTable`), ``history_`` (one dict per generation),
        ``best_index_``, ``search_`` (the search state).
        """
        cutoff = self._check(dataset)
        if self._uses_islands() and (self.workers > 1 or isinstance(self.scheduler, str)):
            from .gp.islands import prestart  # workers get ready while the loss model is built

            prestart(self.workers, self.scheduler)
        train = dataset
        if validation is None and self.validation_fraction:
            train, validation = dataset.split(self.validation_fraction, self.seed)
        weights = self._structure_weights(train)
        species = tuple(sorted(set(train.species) | set(validation.species if validation is not None else ())))
        many_body = self.form != "pair" or len(species) > 1
        embedding = self.form == "eam" or (self.form in TEMPLATE_NAMES and template(self.form).many_body)
        if many_body:
            from .fitness.manybody import ManyBodyLoss

            full_model = None
            if self.batch_fraction:
                full_model = ManyBodyLoss(train, cutoff, species, embedding, self.grid_size, weights=weights,
                                          **self._loss_weights())
                n_batch = max(2, int(math.ceil(self.batch_fraction * len(train))))
                rows = np.sort(np.random.default_rng(self.seed).permutation(len(train))[:n_batch])
                batch = train.subset(rows)
                loss_model = ManyBodyLoss(batch, cutoff, species, embedding, self.grid_size,
                                          weights=None if weights is None else weights[rows], **self._loss_weights())
            else:
                loss_model = ManyBodyLoss(train, cutoff, species, embedding, self.grid_size, weights=weights,
                                          **self._loss_weights())
        else:
            loss_model = PairLoss(train, cutoff, self.grid_size, weights=weights, **self._loss_weights())
        target_loss = None if self.target_rmse is None else (self.target_rmse / 1000.0) ** 2
        config = SearchConfig(population=self.population, generations=self.generations,
                              time_limit=self.time_limit, max_size=self.max_size, max_depth=self.max_depth,
                              operators=self.operators, target_loss=target_loss, seed=self.seed,
                              refine_per_generation=self.refine_per_generation,
                              physical_front=self.form not in TEMPLATE_NAMES)
        energy_only = not (self.force_weight > 0 or self.stress_weight > 0)
        progress = ProgressPrinter(energy_only=energy_only) if self.progress is True else (self.progress or None)
        from .checkpoint import Checkpointer

        checkpointer = Checkpointer(checkpoint, checkpoint_interval) if checkpoint else None
        seed_names = (self.form,) if self.form in TEMPLATE_NAMES else self.seed_forms
        if many_body:
            from .gp.manybody_search import ManyBodySearch

            config.refine_max_constants = 12
            seeds = [template_genome(n, len(species), embedding, cutoff.radius) for n in seed_names]
            search = ManyBodySearch(loss_model, config, progress=progress, on_generation=checkpointer,
                                    seeds=seeds, full_model=full_model)
        else:
            seeds = [template_genome(n, 1, False, cutoff.radius)[0] for n in seed_names]
            search = Search(loss_model, config, progress=progress, on_generation=checkpointer, seeds=seeds)
        if self._uses_islands():  # islands: the search above defines them, IslandSearch runs them
            from .gp.islands import IslandSearch, IslandSettings

            search = IslandSearch(search, IslandSettings(self.islands, self.workers, self.scheduler,
                                                         self.migration_interval))
        if resume is not None:
            try:
                search.restore(resume)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                from .checkpoint import CheckpointError

                raise CheckpointError(f"checkpoint does not match this run ({exc})") from None
            if config.time_limit is not None:
                config.time_limit += search.elapsed
            if config.generations is not None:
                config.generations += search.generation
        start = time.perf_counter()
        if self.form in TEMPLATE_NAMES and resume is None:
            search.fit_seeds(starts=max(1, int(self.template_starts)))
            hall = search.final_hall()
        else:
            search.run()
            hall = search.final_hall()
        if checkpointer is not None:
            checkpointer(search, force=True)
        if isinstance(progress, ProgressPrinter):
            progress.finish()
        front = hall.front()
        self.search_ = search
        self.history_ = search.history
        self.cutoff_ = cutoff
        self.train_ = train
        self.validation_ = validation
        exact_train = ExactLoss(train, cutoff, weights, **self._loss_weights())
        exact_val = None if validation is None else ExactLoss(
            validation, cutoff, self._structure_weights(validation), **self._loss_weights())
        if many_body:
            self.front_ = [self._finalise_manybody(c, exact_train, exact_val, species, embedding) for c in front]
        else:
            self.front_ = [self._finalise(c, exact_train, exact_val) for c in front]
        self.equations_ = FrontTable.from_potentials(self.front_, [c.loss for c in front])
        self.best_index_ = self._best_index()
        self.fit_time_ = time.perf_counter() - start
        return self

    # --- islands (symbpot.gp.islands) ------------------------------------------------------
    def _uses_islands(self) -> bool:
        return self.form not in TEMPLATE_NAMES and (self.workers > 1 or self.scheduler is not None
                                                    or (self.islands or 1) > 1)

    def _check_islands(self) -> None:
        for name, value, low in (("workers", self.workers, 1), ("islands", self.islands, 1),
                                 ("migration interval", self.migration_interval, 1)):
            if value is not None and not (isinstance(value, (int, np.integer)) and value >= low):
                raise ConfigError(f"{name} must be an integer of at least {low}, got {value!r}")
        if self.scheduler is not None:
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise ConfigError("a Dask scheduler needs dask.distributed: pip install 'symbpot[dask]'") from None
    # --- end of islands ---------------------------------------------------------------------

    def _loss_weights(self) -> dict:
        return {"energy_weight": self.energy_weight, "force_weight": self.force_weight,
                "stress_weight": self.stress_weight, "stress_offset": self.stress_offset}

    def _structure_weights(self, dataset: Dataset):
        if not self.group_weights:
            return None
        return np.array([float(self.group_weights.get(g, 1.0)) for g in dataset.groups])

    def _finalise(self, cand, exact_train: ExactLoss, exact_val: ExactLoss | None) -> Potential:
        """Exact outer coefficients, reference energies and metrics for a front member."""
        train = exact_train.dataset
        coef, extra, _ = exact_train.fit_linear(cand.terms, train.species)
        offset = float(extra[-1]) if exact_train.fit_offset and extra is not None else 0.0
        if coef is None or not np.all(np.isfinite(coef)):
            coef = cand.coefficients
        pair = combine_terms(cand.terms, coef)
        # reference energies enter the energies only: fit them there (also when w_E is 0)
        e_pair = structure_pair_energies(pair, exact_train.cutoff, train)
        refs = fit_reference_energies(e_pair, train, train.species, self._structure_weights(train))
        potential = Potential(pair, exact_train.cutoff, dict(zip(train.species, map(float, refs))),
                              complexity=int(cand.complexity))
        return self._metrics(potential, exact_train, exact_val, offset)

    def _finalise_manybody(self, cand, exact_train: ExactLoss, exact_val, species, embedding):
        """Exact outer coefficients, reference energies and metrics of a many-body front member."""
        from .fitness.manybody import atom_species_index, exact_fit
        from .manybody import ManyBodyPotential

        train = exact_train.dataset
        atom_species = atom_species_index(train, species)
        sol = exact_fit(cand.terms, exact_train, species, atom_species)
        fitted = np.all(np.isfinite(sol.coefficients)) and np.isfinite(sol.loss)
        coef = sol.coefficients if fitted else cand.coefficients
        offset = float(sol.reference[-1]) if exact_train.fit_offset and fitted else 0.0
        terms = cand.terms
        pos = 0
        pair = []
        for programs in terms.pair:
            pair.append(combine_terms(programs, coef[pos:pos + len(programs)]))
            pos += len(programs)
        density = embed = None
        if embedding:
            density = list(terms.density)
            embed = []
            for programs in terms.embedding:
                embed.append(combine_terms(programs, coef[pos:pos + len(programs)]))
                pos += len(programs)
        refs = {s: 0.0 for s in species}
        if len(species) == 1 and not embedding:
            potential = Potential(pair[0], exact_train.cutoff, refs, complexity=int(cand.complexity))
        else:
            potential = ManyBodyPotential(species, pair, density, embed, exact_train.cutoff, refs,
                                          complexity=int(cand.complexity), form="eam" if embedding else "pair")
        # reference energies enter the energies only: fit them there (also when w_E is 0)
        e_model = potential.predict(train)[0]
        ref_values = fit_reference_energies(e_model, train, species, self._structure_weights(train))
        potential.reference_energies = dict(zip(species, map(float, ref_values)))
        return self._metrics(potential, exact_train, exact_val, offset)

    def _metrics(self, potential, exact_train: ExactLoss, exact_val, stress_offset: float = 0.0):
        """Metrics on training and validation data; ``stress_offset`` (eV/Å^3) is the data's fitted offset."""
        train = exact_train.dataset
        offset = {"stress_offset_GPa": float(stress_offset) * EV_PER_A3_IN_GPA} if exact_train.fit_offset else {}
        potential.metrics = dict(offset)  # the loss and the stress errors compare stress + offset with the data
        predictions = potential.predict(train)
        metrics = {"train": evaluate_metrics(potential, train, predictions),
                   "loss": {"train": exact_train.loss(potential, predictions)}}
        if exact_val is not None:
            predictions = potential.predict(exact_val.dataset)
            metrics["validation"] = evaluate_metrics(potential, exact_val.dataset, predictions)
            metrics["loss"]["validation"] = exact_val.loss(potential, predictions)
        judged = "validation" if exact_val is not None else "train"
        radii = core_radii(train, potential.species) if hasattr(potential, "dimer_energy") \
            else float(train.pair_distance.min())
        metrics["repulsive_core"] = repulsive_core(potential, radii)
        potential.metrics = {**{k: v for k, v in metrics[judged].items() if k != "n_structures"},
                             "judged_on": judged, **metrics, **offset}
        return potential

    def _best_index(self) -> int:
        if not self.front_:
            raise ConfigError("the search found no valid potential (try a longer time limit)")
        judged = self.front_[0].metrics["judged_on"]
        loss = np.array([p.metrics["loss"][judged] for p in self.front_])
        root = np.sqrt(np.where(np.isfinite(loss), loss, np.inf))
        physical = np.array([bool(p.metrics.get("repulsive_core", True)) for p in self.front_])
        if physical.any():
            root = np.where(physical, root, np.inf)
        if self.max_nodes is not None:
            small = np.array([closed_form(p)[0] <= self.max_nodes for p in self.front_])
            if np.isfinite(root[small]).any():
                root = np.where(small, root, np.inf)
            else:
                warnings.warn(f"no front member has a closed form of at most {self.max_nodes} nodes; "
                              "best chosen from the whole front", SymbpotWarning, stacklevel=2)
        ok = root <= root.min() * (1 + self.selection_tolerance) + ABSOLUTE_TOLERANCE
        return int(np.flatnonzero(ok)[0])

    def get_best(self) -> Potential:
        """The front member chosen by the documented rule (see the module docstring)."""
        self._require_fitted()
        return self.front_[self.best_index_]

    def sympy(self):
        return self.get_best().sympy()

    def latex(self) -> str:
        return self.get_best().latex()

    def _require_fitted(self):
        if not hasattr(self, "front_"):
            raise ConfigError("call fit() first")


def repulsive_core(potential, r_min) -> bool:
    """True if U > 0 and U' < 0 on [0.5 r_min, r_min] (checked on 64 points).

    U is the pair energy, or for many-body and several-species forms the energy of a dimer
    (above its two isolated atoms) of every species pair. ``r_min`` is a distance, or a dict
    ``{(a, b): distance}`` of species-index pairs (:func:`symbpot.fitness.manybody.core_radii`);
    species pairs missing from it use its shortest distance.
    """
    radii = dict(r_min) if isinstance(r_min, dict) else {}
    fallback = float(min(radii.values())) if radii else float(r_min)
    n = (len(getattr(potential, "species", ())) or 1) if hasattr(potential, "dimer_energy") else 1
    checks = [(a, b, radii.get((a, b), fallback)) for a in range(n) for b in range(a, n)]
    with np.errstate(all="ignore"):
        for a, b, radius in checks:
            r = np.linspace(0.5 * radius, radius, 64)
            if hasattr(potential, "dimer_energy"):
                u, du = potential.dimer_energy(r, a, b)
            else:
                u, du = potential.pair_energy(r, order=1)
            if not is_repulsive(u, du):
                return False
    return True


def evaluate_metrics(potential: Potential, dataset: Dataset, predictions=None) -> dict:
    """Energy errors (meV/atom), and force (eV/Å) and stress (GPa) errors where the data has them.

    Stresses are compared after adding the data's fitted isotropic offset, if the potential
    has one (``metrics["stress_offset_GPa"]``; :mod:`symbpot.fitness.exact`).
    """
    energies, forces, stress = predictions if predictions is not None else potential.predict(dataset)
    stress = with_stress_offset(stress, dataset, potential)
    return {**energy_errors(energies, dataset), **force_stress_errors(forces, stress, dataset)}


class ProgressPrinter:
    """Prints generation, evaluations, best loss, front size and rate, at most twice a second."""

    def __init__(self, stream=None, interval: float = 0.5, energy_only: bool = True):
        self.stream = stream or sys.stderr
        self.energy_only = energy_only
        self.interval = interval
        self.last = -math.inf
        self.row = None

    def __call__(self, row: dict) -> None:
        self.row = row
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            self._print(row)

    def _print(self, row: dict) -> None:
        rate = row["evaluations"] / max(row["elapsed_s"], 1e-9)
        rmse = 1000 * math.sqrt(row["best_loss"]) if math.isfinite(row["best_loss"]) else math.inf
        extra = f" (RMSE {rmse:.4g} meV/atom)" if self.energy_only else ""
        print(f"gen {row['generation']:5d} | evals {row['evaluations']:9d} | best loss {row['best_loss']:.3e}"
              f"{extra} | front {row['front_size']:3d} | {rate:8.0f} evals/s", file=self.stream, flush=True)

    def finish(self) -> None:
        if self.row is not None:
            self._print(self.row)
