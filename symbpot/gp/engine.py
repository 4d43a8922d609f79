"""The search loop: NSGA-II over (loss, complexity), constant refinement, hall of fame.

Each generation:

1. parents are drawn by DEAP's crowded tournament (``selTournamentDCD``);
2. offspring come from one-point crossover or one of several mutations (subtree,
   node replacement, insertion, shrink, constant jitter, adding a new term), with the
   size and depth limits applied as each offspring is made (a child over the limits is
   replaced by a copy of its parent); a few fresh random trees keep diversity;
3. every structurally new tree is scored once (a structural cache skips duplicates),
   a generation at a time through :meth:`EnergyLoss.score`;
4. the constants of the most promising new trees are refined by Levenberg-Marquardt
   (outer coefficients are eliminated in closed form inside each residual, i.e.
   variable projection) and the refined trees join the pool;
5. NSGA-II (``selNSGA2``) keeps the population; a hall of fame keeps the best tree of
   every complexity, whose non-dominated members form the Pareto front.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from deap import gp, tools

from ..expr import DEFAULT_OPERATORS, Program
from ..fitness.refine import levenberg_marquardt
from .primitives import (complexity, constants_of, deap_random, individual, join_terms, local_variants,
                         primitive_set, pruned_variants, split_tree_terms, tree_from_nodes, tree_terms,
                         with_constants)


@dataclass
class SearchConfig:
    """Settings of the evolutionary search (see :class:`symbpot.SymbolicPotential`)."""

    population: int = 200
    generations: int | None = None
    time_limit: float | None = 60.0
    max_size: int = 30
    max_depth: int = 8
    crossover_prob: float = 0.5
    fresh_fraction: float = 0.1
    refine_per_generation: int = 3
    refine_share: float = 0.25
    refine_max_constants: int = 8
    prune_per_generation: int = 10
    patience: int = 10
    stagnation: int = 60
    operators: tuple = DEFAULT_OPERATORS
    target_loss: float | None = None
    seed: int = 0
    #: keep the best member with a repulsive core of every complexity in the front (evolved
    #: forms); off for template fits, whose form the user chose
    physical_front: bool = True

    def __post_init__(self):
        self.population = max(8, int(math.ceil(self.population / 4.0)) * 4)
        self.operators = tuple(self.operators)


@dataclass
class Candidate:
    """A scored tree: its loss, complexity, term programs and outer coefficients."""

    tree: gp.PrimitiveTree
    key: str
    loss: float
    complexity: int
    terms: list
    coefficients: np.ndarray

    @property
    def valid(self) -> bool:
        return math.isfinite(self.loss)

    def program(self) -> Program:
        """V(r) = sum_k a_k T_k(r) as one program."""
        return combine_terms(self.terms, self.coefficients)


def combine_terms(terms, coefficients) -> Program:
    """One program for sum_k a_k T_k (postfix concatenation, no re-parsing)."""
    from ..expr.registry import OP_ADD, OP_CONST, OP_MUL

    ops, args = [], []
    for k, (term, a) in enumerate(zip(terms, coefficients)):
        ops.extend(term.ops.tolist())
        args.extend(term.args.tolist())
        ops.extend([OP_CONST, OP_MUL])
        args.extend([float(a), 0.0])
        if k:
            ops.append(OP_ADD)
            args.append(0.0)
    return Program.from_arrays(ops, args)


def is_repulsive(u, du) -> bool:
    """The repulsive-core rule on sampled U and U': finite, U > 0 and U' < 0 everywhere."""
    u, du = np.asarray(u), np.asarray(du)
    return bool(np.all(np.isfinite(u)) and np.all(np.isfinite(du)) and np.all(du < 0) and np.all(u > 0))


@dataclass
class HallOfFame:
    """The best candidate of every complexity; its non-dominated members are the front."""

    best: dict = field(default_factory=dict)
    #: ``checker(cand) -> bool``: is the candidate physical (a repulsive core)? A physical
    #: candidate takes a complexity's place from any unphysical one, whatever the losses.
    checker: Callable | None = field(default=None, repr=False, compare=False)

    def physical(self, cand: Candidate) -> bool:
        if self.checker is None:
            return True
        flag = getattr(cand, "_physical", None)
        if flag is None:
            flag = bool(self.checker(cand))
            cand._physical = flag
        return flag

    def update(self, cand: Candidate) -> None:
        if not cand.valid:
            return
        old = self.best.get(cand.complexity)
        if old is None:
            self.best[cand.complexity] = cand
            return
        if self.checker is not None:
            old_ok = self.physical(old)
            if old_ok and not cand.loss < old.loss:
                return  # cheap exit: a physical member with a lower loss holds the place
            if self.physical(cand) != old_ok:
                if not old_ok:
                    self.best[cand.complexity] = cand
                return
        if cand.loss < old.loss:
            self.best[cand.complexity] = cand

    def front(self) -> list[Candidate]:
        """Candidates by increasing complexity, each better than all simpler ones.

        "Better" means a loss lower by more than one part in 1e9, so that a more complex
        rewrite of the same function (equal loss up to rounding) does not join the front.
        With a ``checker``, the front is made of physical members only, as soon as there
        is one.
        """
        members = [self.best[c] for c in sorted(self.best)]
        if self.checker is not None:
            physical = [cand for cand in members if self.physical(cand)]
            members = physical or members
        out = []
        for cand in members:
            if not out or cand.loss < out[-1].loss * (1 - 1e-9):
                out.append(cand)
        return out


class Search:
    """One evolutionary search on a loss model (an :class:`EnergyLoss`)."""

    def __init__(self, loss_model, config: SearchConfig, progress: Callable | None = None,
                 on_generation: Callable | None = None, seeds=()):
        self.loss_model = loss_model
        self.config = config
        self.progress = progress
        self.on_generation = on_generation
        self.population = None
        self.pset = primitive_set(config.operators)
        self.rng = random.Random(config.seed)
        self.cache: dict[str, Candidate] = {}
        self.refined: set[str] = set()
        self.hall = HallOfFame(checker=self.core_checker(loss_model))
        self.history: list[dict] = []
        self.evaluations = 0
        self.generation = 0
        self.elapsed = 0.0
        self.refine_evaluations = 0
        self.explored: set[str] = set()
        self.target_reached_at: int | None = None
        #: prefix-node lists of trees put into the initial population (templates)
        self.seeds = [list(s) for s in seeds]

    # --- physics ------------------------------------------------------------------
    def core_checker(self, loss_model):
        """``cand -> bool``: U > 0 and U' < 0 on [0.5, 1] x the data's shortest distance.

        The same rule as ``best`` (:func:`symbpot.estimator.repulsive_core`), applied in the
        hall of fame so that the front keeps the best member with a repulsive core of every
        complexity (None when the loss model does not know its shortest distance). Many-body
        searches check the dimer of every species pair (:meth:`dimer_checks`).
        """
        if not getattr(self.config, "physical_front", True):
            return None
        checks = self.dimer_checks(loss_model)
        if not checks:
            return None

        def check(cand) -> bool:
            with np.errstate(all="ignore"):
                for r, args in checks:
                    try:
                        u, du = self.dimer_energy(cand, r, loss_model, *args)
                    except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
                        return False
                    if not is_repulsive(u, du):
                        return False
            return True

        return check

    def dimer_checks(self, loss_model) -> list:
        """``[(r, args)]``: distances and extra :meth:`dimer_energy` arguments of each core check."""
        r_min = getattr(loss_model, "r_min", None)
        return [(np.linspace(0.5 * r_min, r_min, 64), ())] if r_min else []

    @staticmethod
    def dimer_energy(cand, r, loss_model):
        """Pair energy U(r) and U'(r) of a scored candidate (cutoff applied)."""
        from ..fitness.direct import pair_values

        return pair_values(cand.program(), loss_model.cutoff, r, order=1)

    # --- scoring ------------------------------------------------------------------
    @staticmethod
    def key(tree) -> str:
        """Structural key of a tree (its string), cached on the tree object."""
        key = getattr(tree, "_symbpot_key", None)
        if key is None:
            key = str(tree)
            tree._symbpot_key = key
        return key

    def _score(self, trees) -> list[Candidate]:
        """Score trees (cached by structure); returns their candidates in order."""
        new_keys, new_trees = [], []
        for tree in trees:
            key = self.key(tree)
            if key not in self.cache and key not in new_keys:
                new_keys.append(key)
                new_trees.append(tree)
        if new_trees:
            terms = [tree_terms(t) for t in new_trees]
            losses, coefs = self.loss_model.score(terms)
            self.evaluations += len(new_trees)
            for key, tree, ts, loss, a in zip(new_keys, new_trees, terms, losses, coefs):
                cand = Candidate(tree, key, float(loss), complexity(tree), ts, a)
                self.cache[key] = cand
                self.hall.update(cand)
        out = []
        for tree in trees:
            cand = self.cache[self.key(tree)]
            tree.fitness.values = (math.log10(max(cand.loss, 1e-300)) if cand.valid else 1e300,
                                   float(cand.complexity))
            out.append(cand)
        return out

    def _refine(self, cand: Candidate) -> gp.PrimitiveTree | None:
        """Levenberg-Marquardt on the constants of ``cand``; the refined tree or None."""
        theta0 = np.array(constants_of(cand.tree))
        if len(theta0) == 0 or len(theta0) > self.config.refine_max_constants:
            return None
        sizes = [len(t.constant_positions) for t in cand.terms]
        splits = np.cumsum(sizes)[:-1]

        def residuals(theta):
            self.refine_evaluations += 1
            parts = np.split(theta, splits)
            terms = [t.with_constants(p) if len(p) else t for t, p in zip(cand.terms, parts)]
            res, _ = self.loss_model.residuals(terms)
            return res

        try:
            with np.errstate(all="ignore"):
                sol = levenberg_marquardt(residuals, theta0, max_nfev=30 * (len(theta0) + 1))
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            return None
        if not np.all(np.isfinite(sol.x)):
            return None
        return with_constants(cand.tree, sol.x)

    # --- variation ----------------------------------------------------------------
    def _nodes(self, tree):
        """JSON-compatible form of an individual (for checkpoints)."""
        from .primitives import prefix_nodes

        return prefix_nodes(tree)

    def _from_nodes(self, nodes):
        return tree_from_nodes(nodes, self.pset)

    def _pruned(self, tree) -> list:
        """Variants of an individual with one top-level term dropped."""
        return pruned_variants(tree, self.pset)

    def _local(self, tree) -> list:
        """Small, physically common edits of an individual (memetic local search)."""
        return local_variants(tree, self.pset)

    def _copy(self, tree):
        return individual(list(tree))

    def _fresh(self, n: int) -> list:
        out = []
        if self.seeds and self.population is None and not getattr(self, "_seeded", False):
            self._seeded = True
            out = [tree_from_nodes(s, self.pset) for s in self.seeds[:n]]
        return out + [individual(gp.genHalfAndHalf(self.pset, 1, 4)) for _ in range(n - len(out))]

    def _within_limits(self, tree) -> bool:
        return len(tree) <= self.config.max_size and tree.height <= self.config.max_depth

    def _mutate(self, tree):
        rng = self.rng
        choice = rng.random()
        if choice < 0.25:
            return gp.mutUniform(tree, expr=lambda pset, type_: gp.genFull(pset, 0, 2, type_), pset=self.pset)[0]
        if choice < 0.45:
            return gp.mutNodeReplacement(tree, self.pset)[0]
        if choice < 0.55:
            return gp.mutInsert(tree, self.pset)[0]
        if choice < 0.65:
            return gp.mutShrink(tree)[0]
        if choice < 0.8:
            return gp.mutEphemeral(tree, "one")[0]
        # add a new term: tree + small random subtree
        extra = gp.genHalfAndHalf(self.pset, 1, 3)
        add = self.pset.mapping["add"]
        return individual([add] + list(tree) + list(extra))

    def _term_crossover(self, a, b):
        """Keep a random non-empty subset of a's terms and add one term of b."""
        if "add" not in self.pset.mapping:
            return individual(list(a))
        terms_a, terms_b = split_tree_terms(a), split_tree_terms(b)
        keep = [t for t in terms_a if self.rng.random() < 0.7] or [self.rng.choice(terms_a)]
        return join_terms(keep + [self.rng.choice(terms_b)], self.pset)

    def _offspring(self, population) -> list:
        cfg = self.config
        n_fresh = int(round(cfg.fresh_fraction * cfg.population))
        parents = tools.selTournamentDCD(population, len(population))
        children = []
        for k in range(0, len(parents) - n_fresh, 2):
            a = individual(list(parents[k]))
            b = individual(list(parents[(k + 1) % len(parents)]))
            u = self.rng.random()
            if u < cfg.crossover_prob * 0.6:
                ca, cb = gp.cxOnePoint(individual(list(a)), individual(list(b)))
                pairs = ((ca, a), (cb, b))
            elif u < cfg.crossover_prob:
                pairs = ((self._term_crossover(a, b), a), (self._term_crossover(b, a), b))
            else:
                pairs = ((self._mutate(individual(list(a))), a), (self._mutate(individual(list(b))), b))
            for child, parent in pairs:
                children.append(child if self._within_limits(child) else individual(list(parent)))
        return children + self._fresh(n_fresh)

    def _select(self, pool, k: int) -> list:
        unique = {}
        for tree in pool:
            unique.setdefault(self.key(tree), tree)
        trees = list(unique.values())
        valid = [t for t in trees if self.cache[self.key(t)].valid]
        invalid = [t for t in trees if not self.cache[self.key(t)].valid]
        if len(valid) >= k:
            return tools.selNSGA2(valid, k, nd="log")
        chosen = valid + invalid[: k - len(valid)]
        chosen += self._fresh(k - len(chosen))
        self._score(chosen)
        return tools.selNSGA2(chosen, k, nd="log")

    # --- main loop ----------------------------------------------------------------
    def best_loss(self) -> float:
        front = self.hall.front()
        return front[-1].loss if front else math.inf

    def _done(self, start: float) -> bool:
        cfg = self.config
        if cfg.generations is not None and self.generation >= cfg.generations:
            return True
        if cfg.time_limit is not None and time.perf_counter() - start + self.elapsed >= cfg.time_limit:
            return True
        if cfg.target_loss is not None and self.best_loss() <= cfg.target_loss:
            # keep going a few generations so that the front can simplify what reached the target
            if self.target_reached_at is None:
                self.target_reached_at = self.generation
            return self.generation - self.target_reached_at >= cfg.patience
        return False

    def _now(self) -> float:
        """Seconds of search so far (over all calls of :meth:`run`)."""
        return self.elapsed + time.perf_counter() - self._start

    def run(self) -> HallOfFame:
        """Evolve until the generation count, time limit or target loss is reached."""
        cfg = self.config
        start = self._start = time.perf_counter()
        with deap_random(self.rng):
            if self.population is None:
                population = self._fresh(cfg.population)
                self._score(population)
                population = self.population = self._select(population, cfg.population)
                self._record(start)
            else:  # resumed: re-score the restored trees (cheap) to rebuild their candidates
                population = self.population
                self._score(population)
                population = self._select(population, cfg.population)
            while not self._done(start):
                offspring = self._offspring(population)
                before = set(self.cache)
                self._score(offspring)
                new = [self.cache[self.key(t)] for t in offspring if self.key(t) not in before]
                self._refine_best(new)
                local = self._explore_front()
                population = self._select(population + offspring + self._refined_trees + local, cfg.population)
                population = self._restart_if_stagnant(population)
                self.population = population
                self.generation += 1
                self._record(start)
                if self.on_generation is not None:
                    self.on_generation(self)
            self.polish()
        self.elapsed += time.perf_counter() - start
        return self.hall

    def final_hall(self) -> HallOfFame:
        """The hall of fame whose front is the search's result."""
        return self.hall

    def _restart_if_stagnant(self, population):
        """After ``stagnation`` generations without a better front, renew half the population.

        The front members stay (they are re-inserted), the rest of the new half is fresh
        random trees: the search leaves a basin it has exhausted without forgetting it.
        """
        best = self.best_loss()
        if best < getattr(self, "_last_best", math.inf) * (1 - 1e-9):
            self._last_best = best
            self._last_improvement = self.generation
            return population
        if self.generation - getattr(self, "_last_improvement", 0) < self.config.stagnation:
            return population
        self._last_improvement = self.generation
        self.restarts = getattr(self, "restarts", 0) + 1
        keep = population[: len(population) // 2]
        front = [self._copy(c.tree) for c in self.hall.front()]
        fresh = self._fresh(max(0, len(population) - len(keep) - len(front)))
        self._score(front + fresh)
        return self._select(keep + front + fresh, self.config.population)

    # --- checkpoint state ---------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to continue this search, as JSON-compatible data."""

        version, internal, gauss = self.rng.getstate()
        return {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "elapsed_s": self._now() if hasattr(self, "_start") else self.elapsed,
            "refine_evaluations": self.refine_evaluations,
            "target_reached_at": self.target_reached_at,
            "last_improvement": getattr(self, "_last_improvement", 0),
            "rng_state": [version, list(internal), gauss],
            "population": [self._nodes(t) for t in (self.population or [])],
            "hall_of_fame": [self._nodes(c.tree) for c in self.hall.best.values()],
            "refined": sorted(self.refined),
            "explored": sorted(self.explored),
            "history": self.history,
        }

    def restore(self, state: dict) -> None:
        """Continue from :meth:`state` (the hall of fame and population are re-scored)."""

        self.generation = int(state["generation"])
        self.evaluations = int(state["evaluations"])
        self.elapsed = float(state["elapsed_s"])
        self.refine_evaluations = int(state["refine_evaluations"])
        self.target_reached_at = state["target_reached_at"]
        self._last_improvement = int(state.get("last_improvement", self.generation))
        version, internal, gauss = state["rng_state"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.refined = set(state["refined"])
        self.explored = set(state["explored"])
        self.history = list(state["history"])
        with deap_random(self.rng):
            hall = [self._from_nodes(n) for n in state["hall_of_fame"]]
            self.population = [self._from_nodes(n) for n in state["population"]]
        self._score(hall)
        self.evaluations = int(state["evaluations"])  # re-scoring is not new work

    def _explore_front(self) -> list:
        """Score the local variants of front members not explored yet (memetic step)."""
        todo = [c for c in self.hall.front() if c.key not in self.explored]
        self.explored.update(c.key for c in todo)
        variants = [v for c in todo for v in self._local(c.tree) if self._within_limits(v)]
        if variants:
            self._score(variants)
        return variants

    def polish(self, rounds: int = 6) -> None:
        """Drop dead terms from front members until no removal gives a new front member."""
        seen: set[str] = set()
        for _ in range(rounds):
            todo = [c for c in self.hall.front() if c.key not in seen]
            if not todo:
                break
            seen.update(c.key for c in todo)
            pruned = [p for c in todo for p in self._pruned(c.tree)]
            if not pruned:
                break
            self._score(pruned)

    _refined_trees: list = []

    def _refine_best(self, new) -> None:
        """Refine constants of, and drop terms from, the best new candidates."""
        self._refined_trees = []
        ranked = sorted((c for c in new if c.valid and c.key not in self.refined), key=lambda c: c.loss)
        for cand in ranked[: self.config.refine_per_generation]:
            # constant refinement gets at most refine_share of the work, counted in loss
            # evaluations (not seconds, so that a seed fixes the result)
            if self.refine_evaluations > self.config.refine_share * self.evaluations:
                break
            self.refined.add(cand.key)
            tree = self._refine(cand)
            if tree is not None:
                self._refined_trees.append(tree)
        if self._refined_trees:
            self._score(self._refined_trees)
            for tree in self._refined_trees:
                self.refined.add(self.key(tree))
        # term pruning: a sum of terms with fitted coefficients often carries dead terms
        pool = sorted((c for c in new if c.valid), key=lambda c: c.loss)[: self.config.prune_per_generation]
        pool += [self.cache[self.key(t)] for t in self._refined_trees]
        pruned = [p for c in pool for p in self._pruned(c.tree)]
        if pruned:
            self._score(pruned)
            self._refined_trees.extend(pruned)

    def _record(self, start: float) -> None:
        row = {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "best_loss": self.best_loss(),
            "front_size": len(self.hall.front()),
            "elapsed_s": round(self.elapsed + time.perf_counter() - start, 4),
        }
        self.history.append(row)
        if self.progress is not None:
            self.progress(row)
