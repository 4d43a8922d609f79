"""Material properties of a potential (any ASE calculator), side by side with DFT data.

:func:`compute_properties` gives the equilibrium lattice constant, cohesive energy, bulk
modulus, elastic constants, vacancy formation energy, surface energies and an E-V curve
of one element in one crystal structure. :func:`symbpot.properties_dft.dft_properties`
derives what can honestly be derived from DFT frames (groups ``Elastic``, ``Vacancy``,
``Surface``, as in the mlearn data). :func:`format_properties` and :func:`plot_ev` show the
two side by side.

Conventions
-----------
* Energies in eV, lengths in Å, elastic constants and bulk moduli in GPa, surface energies
  in J/m^2; every key of a result names its unit.
* Stress is ASE's (positive = tensile), so C = d(stress)/d(strain) with strains applied to
  the conventional cubic cell (hexagonal cell for hcp) as F = 1 + eps, central differences.
* hcp is computed at the ideal c/a = sqrt(8/3) (c/a is not relaxed): its lattice constant,
  EOS bulk modulus and surface energies are those of the ideal-c/a crystal.
* Structures with a basis (diamond, hcp) get relaxed-ion elastic constants when
  ``relax=True`` (internal coordinates relaxed at each strain) and clamped-ion ones otherwise.
* Energies of a symbpot potential include per-species reference energies; everything here
  is an energy difference in which they cancel. The cohesive energy is
  E(isolated atom) - E(bulk)/atom with both energies from the same calculator, so the
  reference energy cancels there too.
"""
from __future__ import annotations

import math
import re

import numpy as np

from .errors import ConfigError, DataError, SymbpotError

STRUCTURES = ("fcc", "bcc", "hcp", "diamond")
HCP_C_OVER_A = math.sqrt(8.0 / 3.0)
# volume per atom = VOLUME_FACTOR * a^3
VOLUME_FACTOR = {"fcc": 0.25, "bcc": 0.5, "diamond": 0.125, "hcp": math.sqrt(3.0) / 4.0 * HCP_C_OVER_A}
SURFACES = {"fcc": ("100", "110", "111"), "bcc": ("100", "110", "111"), "diamond": ("100", "111"),
            "hcp": ("0001", "10m10")}
STRAIN = 0.005  # elastic constants: +-0.5 %
FMAX = 0.01  # eV/Å, relaxation of vacancies and slabs
DEFAULT_RANGE = 6.0  # Å, interaction range assumed for calculators that do not tell theirs


class PropertyError(SymbpotError):
    """A property could not be computed (the calculator failed, no energy minimum, ...)."""


def _units():
    from ase import units

    return 1.0 / units.GPa, units._e * 1e20  # eV/Å^3 -> GPa, eV/Å^2 -> J/m^2


# ---------------------------------------------------------------------------------------
# potential side
# ---------------------------------------------------------------------------------------
def compute_properties(calc, element: str, structure: str = "fcc", lattice_constant: float | None = None,
                       relax: bool = True, supercell: int = 3, *, interaction_range: float | None = None,
                       facets=None, vacancy: bool = True) -> dict:
    """Properties of ``element`` in ``structure`` computed with the ASE calculator ``calc``.

    Parameters
    ----------
    calc : ase.calculators.calculator.Calculator
        Any ASE calculator giving energies and (for the elastic constants) stresses.
    element : str
        Chemical symbol.
    structure : {"fcc", "bcc", "hcp", "diamond"}
        hcp uses the ideal c/a = sqrt(8/3), not relaxed.
    lattice_constant : float, optional
        Starting guess of a in Å (default: ASE's reference value of the element, converted
        to ``structure`` through the volume per atom).
    relax : bool
        Relax atomic positions (FIRE, fmax 0.01 eV/Å) in the vacancy cell and the slabs,
        and internal coordinates under strain for diamond and hcp.
    supercell : int
        Repeats of the conventional cell along each axis for the vacancy.
    interaction_range : float, optional
        Range of the calculator in Å, used to size slabs and vacuum (default: the cutoff
        of a symbpot potential or ``rc`` of the calculator, else 6 Å).
    facets : sequence of str, optional
        Surfaces to compute, as Miller indices "100", "111", "311", ... (default: 100, 110
        and 111 for fcc and bcc, 100 and 111 for diamond, 0001 and 10m10 for hcp; any
        {hkl} for fcc and bcc). An empty sequence skips the surfaces.
    vacancy : bool
        Whether to compute the vacancy formation energy.

    Returns
    -------
    dict
        ``lattice_constant_A``, ``cohesive_energy_eV``, ``bulk_modulus_GPa`` (EOS fit),
        ``bulk_modulus_elastic_GPa``, ``c11_GPa``, ``c12_GPa``, ``c44_GPa`` (and ``c13_GPa``,
        ``c33_GPa``, ``c_over_a`` for hcp), ``vacancy_formation_eV``,
        ``vacancy_formation_unrelaxed_eV``, ``surface_energy_<hkl>_J_m2`` (and
        ``..._unrelaxed_J_m2``), ``energy_per_atom_eV``, ``volume_per_atom_A3``,
        ``ev_curve`` (list of [volume per atom, energy per atom]), ``notes`` (list of str)
        and the settings used.

    Raises
    ------
    ConfigError
        Unknown structure or element, bad settings.
    PropertyError
        The calculator fails or gives non-finite energies, or no energy minimum is found.
    """
    structure = _check_structure(structure)
    _check_element(element)
    facets = _check_facets(structure, facets)
    if int(supercell) < 1:
        raise ConfigError(f"supercell must be at least 1, got {supercell}")
    if lattice_constant is not None and not (math.isfinite(lattice_constant) and lattice_constant > 0):
        raise ConfigError(f"lattice constant must be a positive number of Å, got {lattice_constant!r}")
    to_gpa, to_j_m2 = _units()
    rng = float(interaction_range) if interaction_range else _interaction_range(calc)
    notes = []
    out = {"element": element, "structure": structure, "relax": bool(relax), "supercell": int(supercell)}
    if structure == "hcp":
        out["c_over_a"] = HCP_C_OVER_A
        notes.append("hcp at the ideal c/a = sqrt(8/3) (not relaxed)")

    a0, eos_fit, ev_curve = _equilibrium(calc, element, structure, lattice_constant)
    v0, _, b_fit = eos_fit
    bulk = _bulk(element, structure, a0, cubic=True)
    e_bulk = _energy(bulk, calc, f"bulk {structure} {element}") / len(bulk)
    out.update(lattice_constant_A=a0, volume_per_atom_A3=v0, energy_per_atom_eV=e_bulk,
               bulk_modulus_GPa=b_fit * to_gpa, ev_curve=ev_curve)

    atom = _isolated_atom(element, rng)
    out["cohesive_energy_eV"] = _energy(atom, calc, f"an isolated {element} atom") - e_bulk

    out.update(_elastic_constants(calc, element, structure, a0, relax, to_gpa, notes))

    if vacancy:
        out.update(_vacancy(calc, element, structure, a0, int(supercell), relax, notes))
    for facet in facets:
        out.update(_surface(calc, element, structure, a0, facet, e_bulk, rng, relax, to_j_m2, notes))
    out["interaction_range_A"] = rng
    out["notes"] = notes
    return out


def _check_structure(structure: str) -> str:
    name = str(structure).lower()
    if name not in STRUCTURES:
        raise ConfigError(f"unknown structure {structure!r} (choose from {', '.join(STRUCTURES)})")
    return name


def _check_facets(structure: str, facets) -> list:
    if facets is None:
        return list(SURFACES[structure])
    if isinstance(facets, str):
        facets = [facets]
    out = []
    for facet in facets:
        name = str(facet).strip().strip("()").replace(",", "").replace(" ", "")
        if name in SURFACES[structure]:
            pass
        elif structure in ("fcc", "bcc") and re.fullmatch(r"\d{3}", name) and name != "000":
            name = _family(int(c) for c in name)
        else:
            raise ConfigError(f"unknown {structure} surface {facet!r} (give Miller indices such as 100 or 111"
                              + ("; any hkl for fcc and bcc" if structure in ("fcc", "bcc") else
                                 f"; {structure}: {', '.join(SURFACES[structure])}") + ")")
        if name not in out:
            out.append(name)
    return out


def _check_element(element: str) -> int:
    from ase.data import atomic_numbers

    if element not in atomic_numbers or element == "X":
        raise ConfigError(f"unknown element {element!r}")
    return atomic_numbers[element]


def _interaction_range(calc) -> float:
    """The calculator's cutoff where it tells it (symbpot potentials, rc of ASE pair calculators)."""
    pot = getattr(calc, "potential", None)
    cutoff = getattr(pot, "cutoff", None)
    radius = getattr(cutoff, "radius", cutoff)
    if radius is None:
        params = getattr(calc, "parameters", None) or {}
        radius = params.get("rc") if hasattr(params, "get") else None
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        return DEFAULT_RANGE
    return radius if math.isfinite(radius) and radius > 0 else DEFAULT_RANGE


def guess_lattice_constant(element: str, structure: str) -> float:
    """ASE's reference lattice constant of ``element``, converted to ``structure`` by volume per atom."""
    from ase.data import covalent_radii, reference_states

    z = _check_element(element)
    structure = _check_structure(structure)
    ref = reference_states[z] or {}
    if ref.get("symmetry") == structure and "a" in ref:
        return float(ref["a"])
    volume = None
    if ref.get("symmetry") in STRUCTURES and "a" in ref:
        sym = ref["symmetry"]
        c_over_a = ref.get("c/a", HCP_C_OVER_A) if sym == "hcp" else None
        factor = math.sqrt(3.0) / 4.0 * c_over_a if sym == "hcp" else VOLUME_FACTOR[sym]
        volume = factor * ref["a"] ** 3
    else:
        try:
            from ase.build import bulk

            atoms = bulk(element)
            volume = atoms.get_volume() / len(atoms)
        except Exception:  # no usable reference state: nearest neighbours at twice the covalent radius
            d = 2.0 * covalent_radii[z]
            volume = d**3 / math.sqrt(2.0)  # fcc volume per atom for a nearest-neighbour distance d
    return float((volume / VOLUME_FACTOR[structure]) ** (1.0 / 3.0))


def _bulk(element, structure, a, cubic=False):
    from ase.build import bulk

    if structure == "hcp":
        return bulk(element, "hcp", a=a, c=a * HCP_C_OVER_A, orthorhombic=cubic)
    return bulk(element, structure, a=a, cubic=cubic)


def _isolated_atom(element, rng):
    from ase import Atoms

    box = 2.0 * rng + 10.0
    return Atoms(element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)


def _energy(atoms, calc, what: str) -> float:
    atoms.calc = calc
    try:
        energy = atoms.get_potential_energy()
    except SymbpotError:
        raise
    except Exception as exc:
        raise PropertyError(f"the calculator failed on {what}: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(energy):
        raise PropertyError(f"the calculator gave a non-finite energy for {what}")
    return float(energy)


def _stress(atoms, calc, what: str) -> np.ndarray:
    atoms.calc = calc
    try:
        stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
    except SymbpotError:
        raise
    except Exception as exc:
        raise PropertyError(f"the calculator failed to give the stress of {what}: "
                            f"{type(exc).__name__}: {exc}") from exc
    if not np.all(np.isfinite(stress)):
        raise PropertyError(f"the calculator gave a non-finite stress for {what}")
    return stress


def _relax(atoms, calc, what: str, fmax: float = FMAX, steps: int = 1000) -> bool:
    from ase.optimize import FIRE

    atoms.calc = calc
    try:
        converged = FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps)
    except SymbpotError:
        raise
    except Exception as exc:
        raise PropertyError(f"the calculator failed while relaxing {what}: {type(exc).__name__}: {exc}") from exc
    return bool(converged)


def _equilibrium(calc, element, structure, guess):
    """(a0, (v0, e0, B in eV/Å^3), E-V curve) from a coarse scan and two EOS fits."""
    from ase.eos import EquationOfState

    a_guess = float(guess) if guess else guess_lattice_constant(element, structure)
    label = f"bulk {structure} {element}"

    def energy_at(a):  # the conventional cell: fewer periodic images than the primitive one for ASE's lists
        atoms = _bulk(element, structure, a, cubic=True)
        return _energy(atoms, calc, f"{label} (a = {a:.4g} Å)") / len(atoms)

    # coarse scan, widened while the minimum sits on an edge
    lo, hi = 0.75, 1.35
    for _ in range(6):
        scale = np.linspace(lo, hi, 31)
        energies = np.array([energy_at(a_guess * s) for s in scale])
        k = int(np.argmin(energies))
        if 0 < k < len(scale) - 1:
            break
        width = hi - lo
        lo, hi = (max(lo - 0.8 * width, 0.2 * lo), lo + 0.1 * width) if k == 0 else \
            (hi - 0.1 * width, hi + 0.8 * width)
    else:
        raise PropertyError(f"no energy minimum of {label} between a = {lo * a_guess:.3g} and "
                            f"{hi * a_guess:.3g} Å (give a lattice constant guess)")
    a_min = a_guess * scale[k]
    factor = VOLUME_FACTOR[structure]

    def fit(a_centre, rel_volume):
        a_values = a_centre * np.linspace(1 - rel_volume, 1 + rel_volume, 11) ** (1.0 / 3.0)
        volumes = factor * a_values**3
        energies = np.array([energy_at(a) for a in a_values])
        try:
            v0, e0, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        except Exception as exc:
            raise PropertyError(f"equation of state fit of {label} failed: {exc}") from exc
        if not (np.isfinite(v0) and np.isfinite(b) and b > 0 and volumes[0] < v0 < volumes[-1]):
            raise PropertyError(f"equation of state fit of {label} found no minimum near a = {a_centre:.4g} Å")
        return float(v0), float(e0), float(b)

    v0, _, _ = fit(a_min, 0.06)
    v0, e0, b = fit((v0 / factor) ** (1.0 / 3.0), 0.03)
    a0 = (v0 / factor) ** (1.0 / 3.0)
    curve_a = a0 * np.linspace(0.92, 1.10, 25)
    ev_curve = [[float(factor * a**3), energy_at(a)] for a in curve_a]
    return float(a0), (v0, e0, b), ev_curve


def _strained(atoms, voigt_index, amount):
    """A copy with the symmetric strain e_k = amount (engineering shear for k >= 3) applied."""
    eps = np.zeros((3, 3))
    if voigt_index < 3:
        eps[voigt_index, voigt_index] = amount
    else:
        i, j = {3: (1, 2), 4: (0, 2), 5: (0, 1)}[voigt_index]
        eps[i, j] = eps[j, i] = amount / 2
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
    return out


def _elastic_constants(calc, element, structure, a0, relax, to_gpa, notes):
    """C_ij from central differences of the stress under +-STRAIN."""
    cell = _bulk(element, structure, a0, cubic=structure != "hcp")
    basis = structure in ("diamond", "hcp")
    if basis:
        notes.append(f"{structure} elastic constants are " + ("relaxed-ion (internal coordinates relaxed "
                     "at each strain)" if relax else "clamped-ion (unrelaxed internal coordinates)"))
    columns = (0, 2, 3) if structure == "hcp" else (0, 3)
    c = {}
    for k in columns:
        stresses = []
        for sign in (1, -1):
            strained = _strained(cell, k, sign * STRAIN)
            what = f"{structure} {element} under strain e{k + 1} = {sign * STRAIN:+g}"
            if basis and relax and not _relax(strained, calc, what, fmax=1e-4, steps=3000):
                notes.append(f"internal relaxation of {what} did not converge")
            stresses.append(_stress(strained, calc, what))
        c[k] = (stresses[0] - stresses[1]) / (2 * STRAIN) * to_gpa
    c11, c12, c44 = float(c[0][0]), float(c[0][1]), float(c[3][3])
    out = {"c11_GPa": c11, "c12_GPa": c12, "c44_GPa": c44}
    if structure == "hcp":
        c13, c33 = float(c[0][2]), float(c[2][2])
        out.update(c13_GPa=c13, c33_GPa=c33)
        out["bulk_modulus_elastic_GPa"] = (2 * c11 + c33 + 2 * c12 + 4 * c13) / 9.0  # Voigt average
        stable = c44 > 0 and c11 > abs(c12) and (c11 + c12) * c33 > 2 * c13**2
    else:
        out["bulk_modulus_elastic_GPa"] = (c11 + 2 * c12) / 3.0
        stable = c11 > abs(c12) and c11 + 2 * c12 > 0 and c44 > 0
    out["mechanically_stable"] = bool(stable)
    if not stable:
        notes.append(f"{structure} is mechanically unstable under this potential (Born criteria fail): "
                     "relaxed defect and surface energies may describe a collapsed structure")
    return out


def _vacancy(calc, element, structure, a0, supercell, relax, notes):
    perfect = _bulk(element, structure, a0, cubic=True).repeat(supercell)
    n = len(perfect)
    e_perfect = _energy(perfect, calc, f"the perfect {n}-atom cell")
    cell = perfect.copy()
    del cell[0]
    reference = (n - 1) / n * e_perfect
    out = {"vacancy_formation_unrelaxed_eV": _energy(cell, calc, f"the {n - 1}-atom vacancy cell") - reference,
           "vacancy_cell_atoms": n - 1}
    if relax:
        if not _relax(cell, calc, "the vacancy cell"):
            notes.append(f"vacancy relaxation did not reach fmax {FMAX} eV/Å")
        out["vacancy_formation_eV"] = _energy(cell, calc, "the relaxed vacancy cell") - reference
        if out["vacancy_formation_eV"] < 0:
            notes.append("negative vacancy formation energy: the vacancy cell relaxed into a lower-energy "
                         f"structure than perfect {structure}")
    else:
        out["vacancy_formation_eV"] = out["vacancy_formation_unrelaxed_eV"]
        notes.append("vacancy formation energy unrelaxed (relax=False)")
    return out


def _slab(element, structure, a0, facet, layers, vacuum):
    from ase import build

    if facet not in SURFACES[structure]:  # any {hkl} of fcc/bcc: whole conventional cells, both faces alike
        hkl = tuple(int(c) for c in facet)
        slab = build.surface(_bulk(element, structure, a0, cubic=True), hkl, layers, vacuum=vacuum)
        slab.pbc = (True, True, False)
        return slab
    maker = {"fcc": {"100": build.fcc100, "110": build.fcc110, "111": build.fcc111},
             "bcc": {"100": build.bcc100, "110": build.bcc110, "111": build.bcc111},
             "diamond": {"100": build.diamond100, "111": build.diamond111},
             "hcp": {"0001": build.hcp0001, "10m10": build.hcp10m10}}[structure][facet]
    kwargs = {"a": a0, "vacuum": vacuum}
    if structure == "hcp":
        kwargs["c"] = a0 * HCP_C_OVER_A
    size = (1, 2, layers) if facet == "10m10" else (1, 1, layers)  # ASE's orthogonal 10-10 cell needs an even y
    return maker(element, size, **kwargs)


def _surface(calc, element, structure, a0, facet, e_bulk, rng, relax, to_j_m2, notes):
    """(E_slab - N e_bulk) / 2A of a slab about 2 * range + 2 layers thick, vacuum range + 4 Å a side."""
    spacing = np.ptp(_slab(element, structure, a0, facet, 4, 5.0).positions[:, 2]) / 3.0
    layers = max(6, int(math.ceil(2.0 * rng / spacing)) + 2)
    slab = _slab(element, structure, a0, facet, layers, rng + 4.0)
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    what = f"the ({facet}) slab"

    def gamma():
        return (_energy(slab, calc, what) - len(slab) * e_bulk) / (2.0 * area) * to_j_m2

    out = {f"surface_energy_{facet}_unrelaxed_J_m2": gamma()}
    if relax:
        if not _relax(slab, calc, what):
            notes.append(f"relaxation of {what} did not reach fmax {FMAX} eV/Å")
        out[f"surface_energy_{facet}_J_m2"] = gamma()
    else:
        out[f"surface_energy_{facet}_J_m2"] = out[f"surface_energy_{facet}_unrelaxed_J_m2"]
    return out


def _family(hkl):
    hkl = sorted((abs(int(v)) for v in hkl), reverse=True)
    g = math.gcd(*hkl)
    return "".join(str(v // g) for v in hkl) if g else None


# ---------------------------------------------------------------------------------------
# presentation
# ---------------------------------------------------------------------------------------
_ROWS = [("lattice constant", "Å", "lattice_constant_A", "{:.4f}"),
         ("cohesive energy", "eV/atom", "cohesive_energy_eV", "{:.4f}"),
         ("bulk modulus (EOS)", "GPa", "bulk_modulus_GPa", "{:.1f}"),
         ("bulk modulus from C_ij", "GPa", "bulk_modulus_elastic_GPa", "{:.1f}"),
         ("C11", "GPa", "c11_GPa", "{:.1f}"), ("C12", "GPa", "c12_GPa", "{:.1f}"),
         ("C13", "GPa", "c13_GPa", "{:.1f}"), ("C33", "GPa", "c33_GPa", "{:.1f}"),
         ("C44", "GPa", "c44_GPa", "{:.1f}"),
         ("vacancy formation", "eV", "vacancy_formation_eV", "{:.3f}"),
         ("vacancy formation, unrelaxed", "eV", "vacancy_formation_unrelaxed_eV", "{:.3f}")]


def _surface_rows(result, dft):
    """Relaxed surface energies (unrelaxed ones stay in the dict): the potential's facets, then DFT-only ones."""
    def facets(res):
        return [m.group(1) for key in (res or {}) if (m := re.fullmatch(r"surface_energy_(\w+?)_J_m2", key))
                and not key.endswith("_unrelaxed_J_m2")]

    own = facets(result)
    names = own + sorted(set(facets(dft)) - set(own), key=lambda f: (len(f), f))
    return [(f"surface energy ({facet})", "J/m^2", f"surface_energy_{facet}_J_m2", "{:.3f}") for facet in names]


def format_properties(result: dict, dft: dict | None = None) -> str:
    """A plain-text table: property, unit, potential value and (if given) the DFT value; then notes."""
    rows = [r for r in _ROWS + _surface_rows(result, dft) if r[2] in result or (dft and r[2] in dft)]
    title = f"{result.get('element', '')} {result.get('structure', '')}".strip()
    header = [f"property ({title})" if title else "property", "unit", "potential"] + (["DFT"] if dft else [])
    table = [header]
    for label, unit, key, fmt in rows:
        cells = [label, unit, fmt.format(result[key]) if key in result else "-"]
        if dft is not None:
            cells.append(fmt.format(dft[key]) if key in dft else "-")
        table.append(cells)
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths)))
             for row in table]
    for name, res in (("potential", result), ("DFT", dft)):
        for note in (res or {}).get("notes", []):
            lines.append(f"note ({name}): {note}")
    return "\n".join(lines)


def plot_ev(result: dict, path, dft: dict | None = None) -> str:
    """Write the E-V curve (energy per atom relative to its minimum) as a PNG; returns the path."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("matplotlib is needed for the E-V plot: pip install matplotlib") from None
    curve = np.asarray(result.get("ev_curve", []), dtype=float)
    if curve.ndim != 2 or len(curve) < 2:
        raise DataError("the result has no E-V curve to plot")
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(curve[:, 0], curve[:, 1] - curve[:, 1].min(), "o-", ms=3, label="potential")
    if "volume_per_atom_A3" in result:
        ax.axvline(result["volume_per_atom_A3"], color="C0", lw=0.8, ls=":")
    if dft and len(dft.get("ev_curve", [])) >= 2:
        ref = np.asarray(dft["ev_curve"], dtype=float)
        ax.plot(ref[:, 0], ref[:, 1] - ref[:, 1].min(), "--", color="C3", label=dft.get("ev_curve_label", "DFT"))
        if "volume_per_atom_A3" in dft:
            ax.axvline(dft["volume_per_atom_A3"], color="C3", lw=0.8, ls=":")
    ax.set_xlabel("volume per atom (Å$^3$)")
    ax.set_ylabel("E - E$_{min}$ (eV/atom)")
    ax.set_title(f"{result.get('element', '')} {result.get('structure', '')}: energy-volume".strip())
    ax.legend()
    fig.savefig(path, dpi=120)
    return str(path)
