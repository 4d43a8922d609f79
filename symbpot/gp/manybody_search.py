"""Search over many-body genomes: several trees evolved together (EAM: phi, g, F).

A genome is a list of trees with fixed roles, in this order:

* ``pair`` trees, one per species pair (AA, AB, BB, ...): phi = sum of terms with outer
  coefficients;
* ``density`` trees, one per species pair (EAM only): g, one program whose constants are
  fitted by the optimiser;
* ``embedding`` trees, one per species (EAM only): F(rho) = sum of terms with outer
  coefficients, built from :data:`symbpot.expr.registry.EMBEDDING_OPERATORS` (with sqrt).

Variation acts on one tree at a time (mutation, one-point or term crossover of the
same tree of two parents, or taking that tree from the other parent); the complexity of
a genome is the sum of its trees' complexities. Everything else (NSGA-II, hall of fame,
constant refinement, pruning, restarts, checkpoints) is the pair search's
(:class:`symbpot.gp.engine.Search`).
"""
from __future__ import annotations

import math

import numpy as np
from deap import base, creator, gp

from ..expr import Program
from ..expr.registry import EMBEDDING_OPERATORS
from ..fitness.manybody import ManyBodyTerms, pair_types
from ..fitness.refine import levenberg_marquardt
from .engine import Candidate, HallOfFame, Search
from .primitives import (complexity, constants_of, individual, local_variants, prefix_nodes, primitive_set,
                         pruned_variants, tree_from_nodes, tree_terms, with_constants)


def _ensure_genome_class() -> None:
    if not hasattr(creator, "SymbpotFitness"):
        creator.create("SymbpotFitness", base.Fitness, weights=(-1.0, -1.0))
    if not hasattr(creator, "SymbpotGenome"):
        creator.create("SymbpotGenome", list, fitness=creator.SymbpotFitness)


def genome(trees) -> list:
    _ensure_genome_class()
    return creator.SymbpotGenome([individual(list(t)) for t in trees])


def genome_roles(species, embedding: bool) -> list[tuple[str, int]]:
    """``[(role, index)]`` of the trees of a genome."""
    types = range(len(pair_types(species)))
    roles = [("pair", t) for t in types]
    if embedding:
        roles += [("density", t) for t in types] + [("embedding", a) for a in range(len(species))]
    return roles


class ManyBodySearch(Search):
    """Evolutionary search over genomes scored by a :class:`ManyBodyLoss`."""

    def __init__(self, loss_model, config, progress=None, on_generation=None, seeds=(), full_model=None):
        super().__init__(loss_model, config, progress, on_generation)
        #: batching: ``loss_model`` is a random subset of the structures and drives selection;
        #: every candidate that becomes the best of its complexity on it is scored on the whole
        #: set (``full_model``), and the front reported at the end is the whole set's.
        self.full_model = full_model
        self.full_hall = HallOfFame(checker=self.core_checker(full_model)) if full_model is not None else None
        self.roles = genome_roles(loss_model.species, loss_model.embedding)
        self.pair_pset = self.pset
        self.embedding_pset = primitive_set(EMBEDDING_OPERATORS)
        self.seeds = [list(s) for s in seeds]

    def dimer_checks(self, loss_model) -> list:
        """One core check per species pair (a, b), below that pair's shortest distance in the data."""
        radii = getattr(loss_model, "core_radii", None) or {}
        return [(np.linspace(0.5 * r_min, r_min, 64), (a, b)) for (a, b), r_min in sorted(radii.items())]

    @staticmethod
    def dimer_energy(cand, r, loss_model, a: int = 0, b: int = 0):
        """Energy of a dimer of species a and b above two isolated atoms, and its slope.

        phi_ab(r) + [F_a(g_ab(r)) - F_a(0)] + [F_b(g_ab(r)) - F_b(0)] (phi alone for a pair
        form), as :meth:`symbpot.manybody.ManyBodyPotential.dimer_energy`.
        """
        from ..fitness.direct import pair_values
        from ..fitness.manybody import type_matrix
        from .engine import combine_terms

        terms, coef = cand.terms, np.asarray(cand.coefficients, dtype=float)
        t = int(type_matrix(len(loss_model.species))[a, b])
        pos = sum(len(p) for p in terms.pair[:t])
        n_pair = sum(len(p) for p in terms.pair)
        u, du = pair_values(combine_terms(terms.pair[t], coef[pos:pos + len(terms.pair[t])]), loss_model.cutoff,
                            r, order=1)
        if terms.embedding is None:
            return u, du
        g, dg = pair_values(terms.density[t], loss_model.cutoff, r, order=1)
        for s in (a, b):
            start = n_pair + sum(len(e) for e in terms.embedding[:s])
            embed = combine_terms(terms.embedding[s], coef[start:start + len(terms.embedding[s])])
            f, fp = embed.evaluate(g, 1)
            f0 = embed.evaluate(np.zeros(1))[0]
            u, du = u + (f - f0), du + fp * dg
        return u, du

    def pset_of(self, k: int):
        return self.embedding_pset if self.roles[k][0] == "embedding" else self.pair_pset

    # --- genomes <-> the loss -------------------------------------------------------------
    def key(self, ind) -> str:
        key = getattr(ind, "_symbpot_key", None)
        if key is None:
            key = " | ".join(str(t) for t in ind)
            ind._symbpot_key = key
        return key

    def terms_of(self, ind) -> ManyBodyTerms:
        pair, density, embedding = [], [], []
        for (role, _), tree in zip(self.roles, ind):
            if role == "pair":
                pair.append(tree_terms(tree))
            elif role == "density":
                density.append(Program.from_prefix(prefix_nodes(tree)))
            else:
                embedding.append(tree_terms(tree))
        if not self.loss_model.embedding:
            return ManyBodyTerms(pair)
        return ManyBodyTerms(pair, density, embedding)

    @staticmethod
    def complexity_of(ind) -> int:
        return int(sum(complexity(t) for t in ind))

    def _score(self, genomes) -> list[Candidate]:
        new_keys, new = [], []
        for ind in genomes:
            key = self.key(ind)
            if key not in self.cache and key not in new_keys:
                new_keys.append(key)
                new.append(ind)
        if new:
            terms = [self.terms_of(ind) for ind in new]
            losses, coefs = self.loss_model.score(terms)
            self.evaluations += len(new)
            promote = []
            for key, ind, ts, loss, a in zip(new_keys, new, terms, losses, coefs):
                cand = Candidate(ind, key, float(loss), self.complexity_of(ind), ts, a)
                self.cache[key] = cand
                self.hall.update(cand)
                if self.full_model is not None and self.hall.best.get(cand.complexity) is cand:
                    promote.append(cand)
            if promote:
                full, full_coefs = self.full_model.score([c.terms for c in promote])
                self.full_evaluations = getattr(self, "full_evaluations", 0) + len(promote)
                for c, loss, a in zip(promote, full, full_coefs):
                    self.full_hall.update(Candidate(c.tree, c.key, float(loss), c.complexity, c.terms, a))
        out = []
        for ind in genomes:
            cand = self.cache[self.key(ind)]
            ind.fitness.values = (math.log10(max(cand.loss, 1e-300)) if cand.valid else 1e300,
                                  float(cand.complexity))
            out.append(cand)
        return out

    # --- variation ----------------------------------------------------------------------
    def _random_tree(self, k: int, min_depth: int = 1, max_depth: int = 3):
        return individual(gp.genHalfAndHalf(self.pset_of(k), min_depth, max_depth))

    def _fresh(self, n: int) -> list:
        out = []
        seeds = list(self.seeds) if self.population is None and not getattr(self, "_seeded", False) else []
        self._seeded = True
        for s in seeds[:n]:
            out.append(self._rebuild(s))
        while len(out) < n:
            out.append(genome([self._random_tree(k) for k in range(len(self.roles))]))
        return out

    def final_hall(self):
        return self.full_hall if self.full_hall is not None else self.hall

    def _copy(self, ind):
        return genome(ind)

    def _within_limits(self, ind) -> bool:
        return all(len(t) <= self.config.max_size and t.height <= self.config.max_depth for t in ind)

    def _with_pset(self, k, fn, *args):
        saved = self.pset
        self.pset = self.pset_of(k)
        try:
            return fn(*args)
        finally:
            self.pset = saved

    def _mutate_genome(self, ind):
        k = self.rng.randrange(len(ind))
        child = genome(ind)
        role = self.roles[k][0]
        if role == "density" and self.rng.random() < 0.3:
            child[k] = self._random_tree(k, 1, 3)
        else:
            tree = self._with_pset(k, self._mutate, individual(list(ind[k])))
            if role == "density" and len(tree) and tree[0].name in ("add", "sub") and self.rng.random() < 0.5:
                tree = individual(list(ind[k]))  # keep g compact: sums in g rarely help
            child[k] = tree
        return child

    def _cross_genomes(self, a, b):
        k = self.rng.randrange(len(a))
        ca, cb = genome(a), genome(b)
        u = self.rng.random()
        if u < 0.4:  # take the whole tree from the other parent
            ca[k], cb[k] = individual(list(b[k])), individual(list(a[k]))
        elif u < 0.7:
            ca[k], cb[k] = gp.cxOnePoint(individual(list(a[k])), individual(list(b[k])))
        elif self.roles[k][0] != "density":
            ca[k] = self._with_pset(k, self._term_crossover, a[k], b[k])
            cb[k] = self._with_pset(k, self._term_crossover, b[k], a[k])
        else:
            ca[k], cb[k] = individual(list(b[k])), individual(list(a[k]))
        return ca, cb

    def _offspring(self, population) -> list:
        from deap import tools

        cfg = self.config
        n_fresh = int(round(cfg.fresh_fraction * cfg.population))
        parents = tools.selTournamentDCD(population, len(population))
        children = []
        for k in range(0, len(parents) - n_fresh, 2):
            a, b = parents[k], parents[(k + 1) % len(parents)]
            if self.rng.random() < cfg.crossover_prob:
                pairs = zip(self._cross_genomes(a, b), (a, b))
            else:
                pairs = ((self._mutate_genome(a), a), (self._mutate_genome(b), b))
            for child, parent in pairs:
                children.append(child if self._within_limits(child) else genome(parent))
        return children + self._fresh(n_fresh)

    def _tree_variants(self, ind, variants_of) -> list:
        out = []
        for k, tree in enumerate(ind):
            if self.roles[k][0] == "density":
                continue
            for v in variants_of(tree, self.pset_of(k)):
                child = genome(ind)
                child[k] = v
                out.append(child)
        return out

    def _local(self, ind) -> list:
        return self._tree_variants(ind, local_variants)

    def _pruned(self, ind) -> list:
        return self._tree_variants(ind, pruned_variants)

    def _refine(self, cand: Candidate):
        """Levenberg-Marquardt on all constants of a genome (outer coefficients eliminated)."""
        per_tree = [constants_of(t) for t in cand.tree]
        theta0 = np.array([c for cs in per_tree for c in cs])
        if len(theta0) == 0 or len(theta0) > self.config.refine_max_constants:
            return None
        programs = cand.terms.programs()
        sizes = [len(p.constant_positions) for p in programs]
        splits = np.cumsum(sizes)[:-1]

        def residuals(theta):
            self.refine_evaluations += 1
            parts = np.split(theta, splits)
            new = [p.with_constants(q) if len(q) else p for p, q in zip(programs, parts)]
            res, _ = self.loss_model.residuals(cand.terms.with_programs(new))
            return res

        try:
            with np.errstate(all="ignore"):
                sol = levenberg_marquardt(residuals, theta0, max_nfev=20 * (len(theta0) + 1))
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            return None
        if not np.all(np.isfinite(sol.x)):
            return None
        out, pos = [], 0
        for tree, cs in zip(cand.tree, per_tree):
            out.append(with_constants(tree, sol.x[pos:pos + len(cs)]) if cs else individual(list(tree)))
            pos += len(cs)
        return genome(out)

    # --- checkpoint state ------------------------------------------------------------------
    def _nodes(self, ind):
        return [prefix_nodes(t) for t in ind]

    def _from_nodes(self, nodes):
        return self._rebuild(nodes)

    def state(self) -> dict:
        return {**super().state(), "genome_roles": [list(r) for r in self.roles]}

    def restore(self, state: dict) -> None:
        if [tuple(r) for r in state.get("genome_roles", [])] != self.roles:
            raise ValueError("the checkpoint's genome layout differs from this run's form and species")
        super().restore(state)
        self._seeded = True

    def _rebuild(self, nodes_per_tree):
        return genome([tree_from_nodes(n, self.pset_of(k)) for k, n in enumerate(nodes_per_tree)])

    # --- templates --------------------------------------------------------------------------
    def fit_seeds(self, starts: int = 8, rounds: int = 3, spread: float = 0.3) -> None:
        """Fit the seed genomes' constants alone (no evolution): LM from several starts.

        Each seed is refined from its own constants and from ``starts - 1`` copies with
        every constant multiplied by exp(N(0, spread)); each start is refined up to
        ``rounds`` times while it improves. The hall of fame keeps the best.
        """
        import time

        from .primitives import deap_random

        start = time.perf_counter()
        self._start = start
        with deap_random(self.rng):
            base_genomes = [self._rebuild(s) for s in self.seeds]
            pool = []
            for g in base_genomes:
                pool.append(g)
                for _ in range(starts - 1):
                    pool.append(genome([with_constants(t, [c * math.exp(self.rng.gauss(0.0, spread))
                                                           for c in constants_of(t)]) if constants_of(t)
                                        else individual(list(t)) for t in g]))
            cands = self._score(pool)
            self._record(start)
            for cand in cands:
                current = cand
                for _ in range(rounds):
                    if not current.valid:
                        break
                    refined = self._refine(current)
                    if refined is None:
                        break
                    new = self._score([refined])[0]
                    if not new.loss < current.loss * (1 - 1e-9):
                        break
                    current = new
            self.population = pool
            self.generation = 1
            self._record(start)
        self.elapsed += time.perf_counter() - start
