"""Crystal phases, their reflections and where they land in a GIWAXS pattern.

A :class:`Phase` is a unit cell (a, b, c in A; alpha, beta, gamma in deg), a space
group (gemmi's tables give the symmetry operations and systematic absences) and the
atoms of the asymmetric unit (for structure factors). Phases come from the built-in
library (:func:`builtin_phase`, cited values), from lattice constants and a space
group (:meth:`Phase.from_constants`) or from a CIF file (:meth:`Phase.from_cif`).

Reciprocal lattice: with the direct cell matrix ``A`` (rows = a, b, c in a Cartesian
frame, A), ``B = 2 pi inv(A).T`` and ``G = (h, k, l) @ B`` (1/A), so that
``|G|^2 = h G* h^T`` with the reciprocal metric ``G* = B B^T`` (triclinic-capable).

Structure factors (electrons): ``F = sum_j occ_j (f0_j(s) + f'_j(E) + i f''_j(E))
exp(-B_j s^2) exp(2 pi i h.x_j)`` over the atoms of the cell, ``s = |G| / (4 pi)``
(1/A), with every scattering factor from xraydb: ``f0`` from the Waasmaier-Kirfel
table, the anomalous ``f'``, ``f''`` at the beam energy from Chantler's tables (none
when no energy is given: Thomson scattering only, stated in the call). ``exp(-B s^2)``
is the Debye-Waller factor (optional). :class:`Reflections` carries ``m |F|^2`` per
powder ring; geometry factors (Lorentz, polarization, texture) belong to
:mod:`gixs.bragg.intensity`. A fibre-texture spot of :func:`predict_gi_spots` carries
the sum of ``|F|^2`` of the reflections landing on it (its fibre multiplicity).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os

import numpy as np

from gixs.errors import FormatError
from gixs.geometry.gi import refract

#: Default isotropic displacement parameter (A^2) for sites that do not give one.
DEFAULT_B_ISO = 0.5


@dataclasses.dataclass(frozen=True)
class Site:
    """One atom of the asymmetric unit: element symbol, fractional x, y, z, occupancy
    and isotropic displacement B (A^2).

    Examples
    --------
    >>> Site("Pb", 0.5, 0.5, 0.5)
    Site(element='Pb', x=0.5, y=0.5, z=0.5, occ=1.0, b_iso=0.5)
    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> len(au.unit_cell_sites())  # the F centring puts 4 atoms in the cell
    4
    """

    element: str
    x: float
    y: float
    z: float
    occ: float = 1.0
    b_iso: float = DEFAULT_B_ISO


@dataclasses.dataclass(frozen=True)
class Reflections:
    """A reflection table (one row per reflection or per merged powder ring).

    Attributes
    ----------
    hkl : ndarray (n, 3) int
        Miller indices (a representative of each symmetry family when merged).
    q : ndarray
        |G| (1/A); ``d = 2 pi / q`` (A).
    multiplicity : ndarray int
        Symmetry-equivalent reflections (Friedel pairs included) in the family.
    f2 : ndarray
        |F|^2 per reflection (electrons^2; 1 for phases without atoms).
    intensity : ndarray
        ``multiplicity * f2`` (times Lorentz-polarization when a wavelength was given).

    Examples
    --------
    A primitive cubic cell of 5 A without atoms: (100) and (110) rings, |F|^2 = 1:

    >>> r = Phase("cub", 5.0, 5.0, 5.0, spacegroup="P m -3 m").reflections(1.8)
    >>> r.hkl.tolist(), r.multiplicity.tolist(), r.f2.tolist()
    ([[1, 0, 0], [1, 1, 0]], [6, 12], [1.0, 1.0])
    >>> np.round(r.d, 4).tolist(), len(r)
    ([5.0, 3.5355], 2)
    """

    hkl: np.ndarray
    q: np.ndarray
    multiplicity: np.ndarray
    f2: np.ndarray
    intensity: np.ndarray

    @property
    def d(self):
        return 2 * math.pi / self.q

    def __len__(self):
        return len(self.q)


#: Most (h, k, l) grid points a reflection list may span (a 100 A cell at q = 5 A^-1
#: spans about 4e6); beyond, a cell is refused instead of minutes of CPU.
MAX_HKL_GRID = 5_000_000
#: Longest cell length accepted (A): atomic cells are < 100 A, dot superlattices < 500 A.
MAX_CELL_A = 1000.0
_LENGTHS = ("a", "b", "c")
_ANGLES = ("alpha", "beta", "gamma")


@dataclasses.dataclass(frozen=True)
class Phase:
    """A crystal phase: cell (A, deg), space group (H-M symbol), atoms, citation.

    Examples
    --------
    Gold (fcc, a = 4.078 A): the F centring removes (100) and (110), so the first rings
    are (111) and (200), at sqrt3 and 2 times 2 pi / a:

    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> au.b, au.gamma, au.crystal_system, au.free_parameters
    (4.078, 90.0, 'cubic', ('a',))
    >>> r = au.reflections(4.0)
    >>> r.hkl.tolist(), r.multiplicity.tolist()
    ([[1, 1, 1], [2, 0, 0]], [8, 6])
    >>> np.round(r.q / (2 * math.pi / 4.078), 4).tolist()
    [1.7321, 2.0]
    >>> au.with_parameters(a=4.0).c
    4.0
    """

    name: str
    a: float
    b: float
    c: float
    alpha: float = 90.0
    beta: float = 90.0
    gamma: float = 90.0
    spacegroup: str = "P 1"
    sites: tuple = ()
    source: str = ""
    #: Explicit reflections (one (h, k, l) per family; equivalents follow from the
    #: space group), e.g. a calibrant's listed lines; empty: every reflection the
    #: space group allows.
    hkl_list: tuple = ()

    def __post_init__(self):
        for key in _LENGTHS + _ANGLES:
            val = float(getattr(self, key))
            if not (np.isfinite(val) and val > 0) or (key in _ANGLES and val >= 180):
                raise ValueError(f"phase {self.name}: lattice constant {key} must be a "
                                 f"positive number{' < 180 deg' if key in _ANGLES else ' (A)'}"
                                 f", got {val!r}")
        longest = max(self.a, self.b, self.c)
        if longest > MAX_CELL_A:
            raise ValueError(f"phase {self.name}: cell length {longest:g} A is above "
                             f"{MAX_CELL_A:g} A (quantum-dot superlattices included); "
                             "is the CIF in other units?")
        sg = self.sg  # raises on an unknown space group
        system = sg.crystal_system_str()
        hexa = system == "hexagonal" or (system == "trigonal" and sg.ext != "R")
        rhombo = system == "trigonal" and sg.ext == "R"
        a, b, c = self.a, self.b, self.c
        al, be, ga = self.alpha, self.beta, self.gamma

        def same(u, v):
            return abs(u - v) <= 1e-4 * max(abs(u), abs(v))  # CIFs round to ~5 digits
        rules = {"cubic": (same(a, b) and same(a, c) and same(al, 90) and same(be, 90)
                           and same(ga, 90), "a = b = c, all angles 90 deg"),
                 "tetragonal": (same(a, b) and same(al, 90) and same(be, 90) and same(ga, 90),
                                "a = b, all angles 90 deg"),
                 "orthorhombic": (same(al, 90) and same(be, 90) and same(ga, 90),
                                  "all angles 90 deg")}
        if hexa:
            rules["hexagonal"] = (same(a, b) and same(al, 90) and same(be, 90)
                                  and same(ga, 120), "a = b, alpha = beta = 90, gamma = 120 deg")
            system = "hexagonal"
        if rhombo and self.spacegroup.endswith(":R"):
            rules["trigonal"] = (same(a, b) and same(a, c) and same(al, be) and same(al, ga),
                                 "a = b = c, alpha = beta = gamma (rhombohedral axes)")
        ok, want = rules.get(system, (True, ""))
        if not ok:
            raise ValueError(f"phase {self.name}: a {system} cell ({sg.xhm()}) needs {want}; "
                             f"got a={a:g}, b={b:g}, c={c:g} A, alpha={al:g}, beta={be:g}, "
                             f"gamma={ga:g} deg")

    # -- symmetry ----------------------------------------------------------------------
    @property
    def sg(self):
        """The gemmi SpaceGroup."""
        import gemmi

        sg = gemmi.find_spacegroup_by_name(str(self.spacegroup))
        if sg is None:
            raise ValueError(f"phase {self.name}: unknown space group {self.spacegroup!r} "
                             "(use a Hermann-Mauguin symbol like 'P m -3 m' or a number)")
        return sg

    @property
    def crystal_system(self) -> str:
        return self.sg.crystal_system_str()

    @property
    def free_parameters(self) -> tuple:
        """Lattice constants free under the crystal system (others follow from them)."""
        system = self.crystal_system
        if system == "cubic":
            return ("a",)
        if system in ("tetragonal", "hexagonal") or (system == "trigonal"
                                                      and abs(self.gamma - 120) < 1e-6):
            return ("a", "c")
        if system == "trigonal":  # rhombohedral axes
            return ("a", "alpha")
        if system == "orthorhombic":
            return ("a", "b", "c")
        if system == "monoclinic":
            odd = [k for k in _ANGLES if abs(getattr(self, k) - 90) > 1e-6] or ["beta"]
            return ("a", "b", "c", odd[0])
        return _LENGTHS + _ANGLES

    @property
    def constants(self) -> dict:
        return {k: float(getattr(self, k)) for k in _LENGTHS + _ANGLES}

    def with_parameters(self, **values) -> "Phase":
        """Copy with new lattice constants, keeping the crystal system's constraints
        (cubic: b = c = a; tetragonal/hexagonal: b = a; rhombohedral: all equal)."""
        new = self.constants
        unknown = set(values) - set(new)
        if unknown:
            raise ValueError(f"phase {self.name}: unknown lattice constant(s) "
                             f"{sorted(unknown)}; expected some of {list(new)}")
        new.update({k: float(v) for k, v in values.items()})
        free = self.free_parameters
        if free == ("a",):
            new["b"] = new["c"] = new["a"]
        elif free == ("a", "c"):
            new["b"] = new["a"]
        elif free == ("a", "alpha"):
            new["b"] = new["c"] = new["a"]
            new["beta"] = new["gamma"] = new["alpha"]
        return dataclasses.replace(self, **new)

    def scaled(self, factor: float) -> "Phase":
        """Copy with every cell length multiplied by ``factor``."""
        return dataclasses.replace(self, a=self.a * factor, b=self.b * factor,
                                   c=self.c * factor)

    # -- metric ------------------------------------------------------------------------
    def direct_matrix(self) -> np.ndarray:
        """Rows a, b, c (A) in a Cartesian frame: a along x, b in the xy plane."""
        al, be, ga = (math.radians(v) for v in (self.alpha, self.beta, self.gamma))
        cx = math.cos(be)
        cy = (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
        cz = math.sqrt(max(1 - cx * cx - cy * cy, 0.0))
        return np.array([[self.a, 0, 0],
                         [self.b * math.cos(ga), self.b * math.sin(ga), 0],
                         [self.c * cx, self.c * cy, self.c * cz]])

    def reciprocal_matrix(self) -> np.ndarray:
        """Rows a*, b*, c* (1/A, with the 2 pi) so that G = hkl @ B."""
        return 2 * math.pi * np.linalg.inv(self.direct_matrix()).T

    def q_of(self, hkl) -> np.ndarray:
        """|G| (1/A) of Miller indices ``hkl`` (shape (..., 3))."""
        g = np.asarray(hkl, float) @ self.reciprocal_matrix()
        return np.linalg.norm(g, axis=-1)

    # -- reflections -------------------------------------------------------------------
    def all_hkl(self, q_max: float) -> np.ndarray:
        """Every (h, k, l) != 0 with |G| <= q_max that the space group allows (or, with
        ``hkl_list``, the symmetry equivalents of the listed reflections)."""
        if self.hkl_list:  # the list is the authority (no absence test)
            listed = np.asarray(self.hkl_list, np.int64).reshape(-1, 3)
            listed = listed[self.q_of(listed) <= q_max * (1 + 1e-9)]
            rots = [np.array(op.rot, np.int64) // op.DEN for op in self.sg.operations()]
            eq = np.unique(np.concatenate([sign * (listed @ r) for r in rots
                                           for sign in (1, -1)]), axis=0)
            eq = eq[np.any(eq != 0, axis=1)]
            keep = self.q_of(eq) <= q_max * (1 + 1e-12)
            return eq[keep].astype(np.int32)
        lim = [int(q_max * n / (2 * math.pi)) + 1
               for n in np.linalg.norm(self.direct_matrix(), axis=1)]
        n_grid = math.prod(2 * m + 1 for m in lim)
        if n_grid > MAX_HKL_GRID:
            raise ValueError(
                f"phase {self.name}: cell {self.a:g} x {self.b:g} x {self.c:g} A up to "
                f"q = {q_max:g} A^-1 spans {n_grid:.3g} (h, k, l) (limit {MAX_HKL_GRID:.0e}); "
                "too many to index; lower the q range or check the cell")
        grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in lim], indexing="ij"),
                        -1).reshape(-1, 3)
        grid = grid[np.any(grid != 0, axis=1)]
        grid = grid[self.q_of(grid) <= q_max * (1 + 1e-12)]
        if len(grid) == 0:
            return grid.reshape(0, 3).astype(np.int32)
        absent = np.asarray(self.sg.operations().systematic_absences(
            np.ascontiguousarray(grid, dtype=np.int32)), bool)
        return grid[~absent].astype(np.int32)

    def unit_cell_sites(self) -> list:
        """All atoms of the cell: (element, fractional xyz, occ, B) after symmetry."""
        out = []
        ops = list(self.sg.operations())
        for s in self.sites:
            seen = []
            for op in ops:
                p = np.mod(np.array(op.apply_to_xyz([s.x, s.y, s.z])), 1.0)
                if not any(np.all(np.abs((p - q + 0.5) % 1.0 - 0.5) < 1e-4) for q in seen):
                    seen.append(p)
            out += [(s.element, p, s.occ, s.b_iso) for p in seen]
        return out

    def structure_factor2(self, hkl, *, energy_kev: float | None = None,
                          wavelength_a: float | None = None,
                          debye_waller: bool = True) -> np.ndarray:
        """|F|^2 (electrons^2) of ``hkl`` (n, 3); ones when the phase has no atoms.

        ``energy_kev`` (or ``wavelength_a``, A) adds the anomalous ``f' + i f''`` of
        every atom at that photon energy (xraydb, Chantler); without either, Thomson
        scattering ``f0`` only. ``debye_waller`` applies each site's ``exp(-B s^2)``.

        Examples
        --------
        >>> from gixs.bragg.phases import builtin_phase
        >>> p = builtin_phase("CsPbBr3")
        >>> f2_far, f2_18 = (p.structure_factor2([[1, 0, 0]], energy_kev=e)[0]
        ...                  for e in (None, 18.0))
        >>> bool(abs(f2_18 / f2_far - 1) > 0.01)  # Pb f' at 18 keV moves |F|^2
        True
        """
        hkl = np.atleast_2d(np.asarray(hkl, float))
        if not self.sites:
            return np.ones(len(hkl))
        energy_ev = _energy_ev(energy_kev, wavelength_a)
        s = self.q_of(hkl) / (4 * math.pi)
        f = np.zeros(len(hkl), complex)
        cache = {}
        for element, xyz, occ, b_iso in self.unit_cell_sites():
            if element not in cache:
                cache[element] = (_f0(element, s) + (0 if energy_ev is None else complex(
                    *_anomalous(element, energy_ev))))
            dw = np.exp(-b_iso * s * s) if debye_waller else 1.0
            f += occ * cache[element] * dw * np.exp(2j * math.pi * (hkl @ xyz))
        return np.abs(f) ** 2

    def family_keys(self, hkl) -> np.ndarray:
        """An integer per reflection, equal for symmetry-equivalent reflections
        (Laue group: rotations of the space group plus Friedel's law)."""
        hkl = np.asarray(hkl, np.int64)
        m = int(np.abs(hkl).max(initial=0)) + 1
        base = 2 * m + 1
        best = np.full(len(hkl), -1, np.int64)
        for op in self.sg.operations():
            rot = np.array(op.rot, np.int64) // op.DEN
            for sign in (1, -1):
                e = sign * (hkl @ rot) + m
                best = np.maximum(best, (e[:, 0] * base + e[:, 1]) * base + e[:, 2])
        return best

    def reflections(self, q_max: float, *, energy_kev: float | None = None,
                    wavelength_a: float | None = None, debye_waller: bool = True,
                    merge: bool = True, min_rel_intensity: float = 0.0) -> Reflections:
        """Reflections with |G| <= ``q_max`` (1/A), sorted by q; ``intensity`` is
        ``multiplicity * |F|^2`` (no geometry factor: see
        :func:`gixs.bragg.intensity.powder_intensities`).

        ``merge`` groups symmetry-equivalent reflections into powder rings (with their
        multiplicity); ``energy_kev`` or ``wavelength_a`` (A) puts the anomalous
        scattering factors at that energy into |F|^2 and drops reflections beyond
        2theta = 180 deg; ``min_rel_intensity`` drops rows weaker than that fraction
        of the strongest.
        """
        hkl = self.all_hkl(q_max)
        energy_ev = _energy_ev(energy_kev, wavelength_a)
        if energy_ev is not None:  # reachable: q <= 2 k0
            hkl = hkl[self.q_of(hkl) <= 2 * 2 * math.pi * energy_ev / _HC_EV_A] \
                if len(hkl) else hkl
        f2 = self.structure_factor2(hkl, energy_kev=None if energy_ev is None else
                                    energy_ev / 1e3, debye_waller=debye_waller) \
            if len(hkl) else np.zeros(0)
        mult = np.ones(len(hkl), np.int64)
        if merge and len(hkl):
            keys = self.family_keys(hkl)
            uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
            hkl, f2, mult = hkl[first], f2[first], counts
            hkl = np.array([_nice_hkl(self, h) for h in hkl], np.int32).reshape(-1, 3)
        q = self.q_of(hkl)
        inten = mult * f2
        order = np.argsort(q, kind="stable")
        out = Reflections(hkl[order], q[order], mult[order], f2[order], inten[order])
        if min_rel_intensity > 0 and len(out):
            keep = out.intensity >= min_rel_intensity * out.intensity.max()
            out = Reflections(*(v[keep] for v in dataclasses.astuple(out)))
        return out

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_constants(cls, name, spacegroup, a, b=None, c=None, alpha=90.0, beta=90.0,
                       gamma=None, sites=(), source="user") -> "Phase":
        """A phase from lattice constants (A, deg) and a space group (no atoms: all
        allowed reflections get |F|^2 = 1). Missing b, c, gamma follow the system."""
        import gemmi

        sg = gemmi.find_spacegroup_by_name(str(spacegroup))
        if sg is None:
            raise ValueError(f"phase {name}: unknown space group {spacegroup!r}")
        system = sg.crystal_system_str()
        hexa = system == "hexagonal" or (system == "trigonal" and sg.ext != "R")
        if gamma is None:
            gamma = 120.0 if hexa else 90.0
        cubic = system == "cubic"
        b = a if b is None and (cubic or system == "tetragonal" or hexa) else b
        c = a if c is None and cubic else c
        if b is None or c is None:
            raise ValueError(f"phase {name}: a {system} cell needs b and c as well as a")
        return cls(name, float(a), float(b), float(c), float(alpha), float(beta),
                   float(gamma), sg.xhm(), tuple(sites), source)

    @classmethod
    def from_cif(cls, path, name=None) -> "Phase":
        """Read a small-molecule/inorganic CIF (cell, space group, atom sites) with gemmi."""
        import gemmi

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FormatError(f"{path}: CIF file not found")
        try:
            st = gemmi.read_small_structure(path)
        except Exception as exc:
            raise FormatError(f"{path}: not a readable CIF structure ({exc})") from None
        sg = st.spacegroup
        if sg is None and st.symops:
            sg = gemmi.find_spacegroup_by_ops(gemmi.GroupOps([gemmi.Op(t) for t in st.symops]))
        if sg is None or not st.cell.is_crystal():
            raise FormatError(f"{path}: CIF lacks a cell or a space group")
        sites = tuple(Site(s.element.name, *(float(v) for v in (s.fract.x, s.fract.y,
                                                                 s.fract.z)),
                           float(s.occ), 8 * math.pi ** 2 * float(s.u_iso) or DEFAULT_B_ISO)
                      for s in st.sites)
        c = st.cell
        return cls(name or st.name, c.a, c.b, c.c, c.alpha, c.beta, c.gamma, sg.xhm(),
                   sites, f"CIF file {os.path.basename(path)}")


#: h c (eV A): E = _HC_EV_A / wavelength.
_HC_EV_A = 12398.419843320026


def _energy_ev(energy_kev, wavelength_a):
    """Photon energy (eV) from keV or a wavelength (A); None when neither is given."""
    if energy_kev is not None and wavelength_a is not None:
        raise ValueError("give energy_kev or wavelength_a, not both")
    if energy_kev is None and wavelength_a is None:
        return None
    val = energy_kev if energy_kev is not None else wavelength_a
    if not (np.isfinite(val) and val > 0):
        raise ValueError(f"{'energy_kev' if energy_kev is not None else 'wavelength_a'} "
                         f"must be a positive number, got {val!r}")
    return 1e3 * float(energy_kev) if energy_kev is not None else _HC_EV_A / float(
        wavelength_a)


def _xraydb_name(element):
    import gemmi

    el = gemmi.Element(str(element))
    if el.atomic_number == 0:
        raise ValueError(f"unknown element {element!r} in a phase site")
    return el.name if el.name != "D" else "H"


def _f0(element, s):
    """Thomson scattering factor f0 (electrons) at ``s = sin(theta)/lambda`` (1/A),
    xraydb's Waasmaier-Kirfel table."""
    import xraydb

    return np.asarray(xraydb.f0(_xraydb_name(element), np.asarray(s, float)), float)


@functools.lru_cache(maxsize=512)
def _anomalous(element, energy_ev):
    """(f', f'') (electrons) of ``element`` at ``energy_ev`` (eV), Chantler via xraydb."""
    import xraydb

    name = _xraydb_name(element)
    return (float(xraydb.f1_chantler(name, energy_ev)),
            float(xraydb.f2_chantler(name, energy_ev)))


def anomalous_factors(element: str, *, energy_kev: float | None = None,
                      wavelength_a: float | None = None) -> tuple:
    """(f', f'') in electrons of ``element`` at the photon energy (keV) or wavelength
    (A): the anomalous scattering factors the structure factors use (xraydb, Chantler's
    tables).

    Examples
    --------
    >>> fp, fpp = anomalous_factors("Pb", energy_kev=18.0)
    >>> round(fp, 2), round(fpp, 2)
    (-3.13, 9.58)
    """
    energy_ev = _energy_ev(energy_kev, wavelength_a)
    if energy_ev is None:
        raise ValueError("anomalous_factors needs energy_kev or wavelength_a")
    return _anomalous(str(element), float(energy_ev))


def _nice_hkl(phase, hkl):
    """The member of a symmetry family printed by convention: most non-negative, then
    largest indices first in order."""
    ops = phase.sg.operations()
    cands = set()
    for op in ops:
        rot = np.array(op.rot, np.int64) // op.DEN
        for sign in (1, -1):
            cands.add(tuple(int(v) for v in sign * (np.asarray(hkl) @ rot)))
    return max(cands, key=lambda t: (sum(v >= 0 for v in t), t))


# -- grazing-incidence prediction ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GISpots:
    """Spots of a fibre-textured film: one row per distinct (q_xy, q_z) position.

    ``qxy`` >= 0 and ``qz`` (1/A), ``q`` = |G|, ``hkl`` a representative reflection,
    ``members`` every (h, k, l) landing there, ``intensity`` = sum of their |F|^2.

    Examples
    --------
    Made by :func:`predict_gi_spots`:

    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> s = predict_gi_spots(au, (1, 1, 1), 3.2)
    >>> len(s), s.hkl.tolist()
    (3, [[1, 1, 1], [1, 1, -1], [2, 0, 0]])
    """

    qxy: np.ndarray
    qz: np.ndarray
    q: np.ndarray
    hkl: np.ndarray
    members: tuple
    intensity: np.ndarray

    def __len__(self):
        return len(self.q)


def surface_normal(phase: Phase, normal_hkl) -> np.ndarray:
    """Unit vector (Cartesian, reciprocal frame of ``phase``) of the plane normal (hkl).

    Parameters
    ----------
    phase : Phase
        The crystal phase.
    normal_hkl : sequence of 3 int
        Miller indices of the planes parallel to the substrate.

    Returns
    -------
    ndarray, shape (3,)
        Unit vector along ``G(hkl)`` (dimensionless).

    Examples
    --------
    >>> cub = Phase("cub", 5.0, 5.0, 5.0, spacegroup="P m -3 m")
    >>> np.round(surface_normal(cub, (1, 1, 1)), 6).tolist()
    [0.57735, 0.57735, 0.57735]
    >>> surface_normal(cub, (0, 0, 0))
    Traceback (most recent call last):
    ...
    ValueError: orientation must be a nonzero (h k l), got (0, 0, 0)
    """
    g = np.asarray(normal_hkl, float) @ phase.reciprocal_matrix()
    norm = np.linalg.norm(g)
    if not norm > 0:
        raise ValueError(f"orientation must be a nonzero (h k l), got {tuple(normal_hkl)}")
    return g / norm


def predict_gi_spots(phase: Phase, normal_hkl, q_max: float, *, normal=None,
                     min_rel_intensity: float = 1e-3, decimals: int = 5,
                     energy_kev: float | None = None, wavelength_a: float | None = None,
                     debye_waller: bool = True) -> GISpots:
    """(q_xy, q_z) of every reflection of a film with plane ``normal_hkl`` parallel to
    the surface (fibre texture about the normal), |G| <= ``q_max``, q_z >= 0.

    ``q_z = G . n`` and ``q_xy = sqrt(|G|^2 - q_z^2)``. ``normal`` (a Cartesian unit
    vector in the phase's reciprocal frame) overrides ``normal_hkl`` (refined texture
    axis). Spots weaker than ``min_rel_intensity`` of the strongest are dropped.
    ``energy_kev`` / ``wavelength_a`` / ``debye_waller`` go to
    :meth:`Phase.structure_factor2`.

    Parameters
    ----------
    phase : Phase
        The crystal phase.
    normal_hkl : sequence of 3 int
        Planes parallel to the substrate.
    q_max : float
        Largest |G| kept (1/A).

    Returns
    -------
    GISpots
        Spots sorted by |q| (q_xy, q_z, q in 1/A).

    Examples
    --------
    A (111)-oriented gold film: (111) on the specular rod, the three other {111} at
    q_z = |G| / 3 and the {200} at q_z = |G| / sqrt3:

    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> s = predict_gi_spots(au, (1, 1, 1), 3.2)
    >>> s.hkl.tolist(), [len(m) for m in s.members]
    ([[1, 1, 1], [1, 1, -1], [2, 0, 0]], [1, 3, 3])
    >>> np.round(s.qxy, 4).tolist(), np.round(s.qz, 4).tolist()
    ([0.0, 2.516, 2.516], [2.6687, 0.8896, 1.7791])
    >>> np.round(s.qz / s.q, 4).tolist()
    [1.0, 0.3333, 0.5774]
    """

    n = surface_normal(phase, normal_hkl) if normal is None else np.asarray(normal, float)
    hkl = phase.all_hkl(q_max)
    g = hkl @ phase.reciprocal_matrix()
    qz = g @ n
    q = np.linalg.norm(g, axis=1)
    qxy = np.sqrt(np.clip(q * q - qz * qz, 0, None))
    f2 = phase.structure_factor2(hkl, energy_kev=energy_kev, wavelength_a=wavelength_a,
                                 debye_waller=debye_waller) if len(hkl) else np.zeros(0)
    up = qz > -10.0 ** -decimals
    hkl, qxy, qz, q, f2 = hkl[up], qxy[up], np.abs(qz[up]) * (qz[up] > 0), q[up], f2[up]
    keys = np.round(np.stack([qxy, qz], 1), decimals)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    inten = np.bincount(inverse, weights=f2, minlength=len(uniq))
    members = tuple(tuple(tuple(int(v) for v in h) for h in hkl[inverse == i])
                    for i in range(len(uniq)))
    rep = np.array([max(m, key=lambda t: (sum(v >= 0 for v in t), t)) for m in members],
                   np.int32).reshape(-1, 3)
    qq = np.hypot(uniq[:, 0], uniq[:, 1])
    keep = inten >= min_rel_intensity * inten.max(initial=0) if len(inten) else inten > 0
    keep &= inten > 0
    order = np.lexsort((uniq[:, 0], qq))
    order = order[keep[order]]
    return GISpots(uniq[order, 0], uniq[order, 1], qq[order], rep[order],
                   tuple(members[i] for i in order), inten[order])


#: Exit channels of a reflection in a refracting film (Busch et al., J. Appl. Cryst. 39,
#: 433 (2006)): "transmitted" (the refracted incident wave is scattered) and "reflected"
#: (the incident wave reflected at the substrate is scattered).
CHANNELS = ("transmitted", "reflected")


def gi_exit_qz(qz, wavelength_a: float, incidence: float, critical_angle: float, *,
               channel: str = "transmitted"):
    """Where a reflection of internal (refraction-corrected) ``qz`` appears on a q_z axis
    computed without refraction correction (1/A; angles in rad), DWBA in one film.

    Inside the film the waves travel at ``a' = sqrt(a^2 - a_c^2)``
    (:func:`gixs.geometry.gi.refract`). The scattered wave leaves upward with
    ``k_z = k0 sin a_f'``; the wave it came from travels down (transmitted channel,
    ``k_z = -k0 sin a_i'``) or up after the substrate reflection (reflected channel,
    ``+k0 sin a_i'``). So ``sin a_f' = qz / k0 - sin a_i'`` (transmitted) or
    ``qz / k0 + sin a_i'`` (reflected); outside, ``a_f = sqrt(a_f'^2 + a_c^2)`` and the
    map shows ``k0 (sin a_f + sin a_i)``.

    A transmitted reflection with ``qz < k0 sin a_i'`` (below the refracted horizon, e.g.
    every in-plane q_z = 0 reflection) has no upward exit wave: its rod intensity, seen
    through the exit transmission ``|t(a_f)|^2``, peaks at the Yoneda angle
    ``a_f = a_c``; it is placed there and flagged.

    Returns
    -------
    qz_apparent : ndarray
        q_z (1/A) on the uncorrected map.
    at_yoneda : ndarray of bool
        True where the reflection was placed at the Yoneda (transmitted channel only).

    Examples
    --------
    >>> import math
    >>> qz, flag = gi_exit_qz([0.0, 0.5], 0.9763, math.radians(0.3), math.radians(0.24))
    >>> bool(flag[0]), bool(flag[1])
    (True, False)
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
    k0 = 2 * math.pi / wavelength_a
    qz = np.asarray(qz, float)
    sin_ai_in = math.sin(float(refract(incidence, critical_angle)))
    sign = -1.0 if channel == "transmitted" else 1.0
    sin_af_in = qz / k0 + sign * sin_ai_in
    at_yoneda = sin_af_in < 0
    af_in = np.arcsin(np.clip(sin_af_in, 0.0, 1.0))
    af = np.sqrt(af_in ** 2 + critical_angle ** 2)
    return k0 * (np.sin(af) + math.sin(incidence)), at_yoneda


def apparent_qz(qz, wavelength_a: float, incidence: float, critical_angle: float, *,
                channel: str = "transmitted"):
    """q_z (1/A) at which a reflection of internal ``qz`` appears on a map computed
    without refraction correction: the first output of :func:`gi_exit_qz` (in-plane
    reflections of the transmitted channel at the Yoneda, never NaN).

    Examples
    --------
    >>> import math
    >>> round(float(apparent_qz(0.0, 1.0, 0.005, 0.0)), 4)  # no refraction: the horizon
    0.0314
    """
    return gi_exit_qz(qz, wavelength_a, incidence, critical_angle, channel=channel)[0]
