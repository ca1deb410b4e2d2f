"""The built-in phase library as plain data, each entry with its literature source.

``cell``: a, b, c (A), alpha, beta, gamma (deg); ``spacegroup``: Hermann-Mauguin symbol
as gemmi knows it; ``sites``: asymmetric unit as (element, x, y, z, occupancy, B_iso in
A^2). Displacement parameters are typical room-temperature values (not refined ones)
and only shape the relative intensities. :func:`builtin_phase` and :func:`parse_phase`
(re-exported by :mod:`gixs.bragg.lattice`) turn them into :class:`gixs.bragg.lattice.Phase` objects.

Hybrid perovskites: the organic cation (methylammonium CH3NH3+, formamidinium
CH(NH2)2+) is orientationally disordered; it is represented by its C and N atoms at the
A-site centre (hydrogen left out), which is what X-rays see at the q of a GIWAXS frame.

Every pyFAI calibrant (``pyFAI.calibrant.CALIBRANT_FACTORY``) is also a phase name
(:func:`calibrant_phase`): its cell and space group from the calibrant file's header and
exactly the lines the file lists; no atoms, so its intensities are not predicted.
Built-in phases with atoms take precedence (LaB6, Si, Au, CeO2).
"""

from __future__ import annotations

import functools
import os
import re

import math

from gixs.bragg.lattice import Phase, Site

_CUBIC = (90.0, 90.0, 90.0)


def _perovskite(halide, a, source):
    return {"cell": (a, a, a) + _CUBIC, "spacegroup": "P m -3 m", "source": source,
            "sites": (("Pb", 0, 0, 0, 1.0, 0.5), ("Cs", .5, .5, .5, 1.0, 2.0),
                      (halide, .5, 0, 0, 1.0, 2.0))}


LIBRARY = {
    "LaB6": {
        "cell": (4.15683,) * 3 + _CUBIC, "spacegroup": "P m -3 m",
        "sites": (("La", 0, 0, 0, 1.0, 0.2), ("B", 0.1992, .5, .5, 1.0, 0.3)),
        "source": "a = 4.15683 A: NIST SRM 660c certificate; B x ~ 0.199 (the NIST SRM "
                  "660b CIF gives x = 0.198)"},
    "Si": {
        "cell": (5.43102,) * 3 + _CUBIC, "spacegroup": "F d -3 m:1",
        "sites": (("Si", 0, 0, 0, 1.0, 0.46),),
        "source": "CODATA 2018 lattice parameter of Si, a = 5.431020511 A (22.5 C)"},
    "CsPbBr3": _perovskite(
        "Br", 5.87, "cubic (alpha) CsPbBr3, pseudo-cubic a ~ 5.87 A: C. K. Moller, Nature "
        "182, 1436 (1958); Protesescu et al., Nano Lett. 15, 3692 (2015)"),
    "CsPbBr3-ortho": {
        "cell": (8.24, 11.74, 8.20) + _CUBIC, "spacegroup": "P n m a",
        "sites": (("Pb", 0, 0, .5, 1.0, 0.5), ("Cs", 0, .25, 0, 1.0, 2.0),
                  ("Br", 0, .25, .5, 1.0, 2.0), ("Br", .25, 0, .75, 1.0, 2.0)),
        "source": "orthorhombic CsPbBr3 Pnma, a 8.24, b 11.74, c 8.20 A: Stoumpos et al., "
                  "Cryst. Growth Des. 13, 2722 (2013). Atoms at IDEALIZED untilted "
                  "perovskite positions: octahedral-tilt superstructure reflections get "
                  "~0 intensity (positions of the lattice are exact)"},
    "CsPbI3": _perovskite(
        "I", 6.29, "cubic (alpha) CsPbI3, a ~ 6.29 A: Trots & Myagkota, J. Phys. Chem. "
        "Solids 69, 2520 (2008)"),
    "PbS": {
        "cell": (5.936,) * 3 + _CUBIC, "spacegroup": "F m -3 m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.0), ("S", .5, .5, .5, 1.0, 0.8)),
        "source": "rock-salt PbS (galena), a = 5.936 A: ICDD PDF 05-0592"},
    "ITO": {
        "cell": (10.12,) * 3 + _CUBIC, "spacegroup": "I a -3",
        "sites": (("In", .25, .25, .25, 1.0, 0.5), ("In", .4668, 0, .25, 1.0, 0.5),
                  ("O", .3905, .1529, .3832, 1.0, 0.8)),
        "source": "ITO as bixbyite In2O3, a ~ 10.12 A (ICDD PDF 06-0416: a = 10.118 A); "
                  "sites: M. Marezio, Acta Cryst. 20, 723 (1966)"},
    "Au": {
        "cell": (4.0782,) * 3 + _CUBIC, "spacegroup": "F m -3 m",
        "sites": (("Au", 0, 0, 0, 1.0, 0.6),),
        "source": "fcc Au, a = 4.0782 A: A. Maeland & T. B. Flanagan, Can. J. Phys. 42, "
                  "2364 (1964) (the value of pyFAI's Au calibrant and xrayutilities' Au)"},
    "CeO2": {
        "cell": (5.411651,) * 3 + _CUBIC, "spacegroup": "F m -3 m",
        "sites": (("Ce", 0, 0, 0, 1.0, 0.2), ("O", .25, .25, .25, 1.0, 0.4)),
        "source": "fluorite CeO2, a = 5.411651 A: NIST SRM 674b certificate (pyFAI's "
                  "CeO2 calibrant)"},
    "SnO2": {
        "cell": (4.7382, 4.7382, 3.1871) + _CUBIC, "spacegroup": "P 42/m n m",
        "sites": (("Sn", 0, 0, 0, 1.0, 0.3), ("O", .3056, .3056, 0, 1.0, 0.5)),
        "source": "rutile SnO2 (cassiterite), P4_2/mnm, a = 4.7382 A, c = 3.1871 A: ICDD "
                  "PDF 41-1445; O at (u, u, 0), u = 0.3056: Bolzan et al., Acta Cryst. "
                  "B53, 373 (1997)"},
    "FTO": {
        "cell": (4.7382, 4.7382, 3.1871) + _CUBIC, "spacegroup": "P 42/m n m",
        "sites": (("Sn", 0, 0, 0, 1.0, 0.3), ("O", .3056, .3056, 0, 1.0, 0.5)),
        "source": "FTO (F-doped SnO2) as rutile SnO2, a = 4.7382 A, c = 3.1871 A (ICDD "
                  "PDF 41-1445; doping shifts the cell by ~0.1 %: refine)"},
    "MAPbI3": {
        "cell": (8.855, 8.855, 12.659) + _CUBIC, "spacegroup": "I 4/m c m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.5), ("I", 0, 0, .25, 1.0, 4.0),
                  ("I", .21, .71, 0, 1.0, 4.0), ("C", 0, .5, .25, 1.0, 6.0),
                  ("N", 0, .5, .25, 1.0, 6.0)),
        "source": "tetragonal MAPbI3 (CH3NH3PbI3), I4/mcm, a = 8.855 A, c = 12.659 A at "
                  "293 K: A. Poglitsch & D. Weber, J. Chem. Phys. 87, 6373 (1987). Pb 4c, "
                  "I 4a and 8h (x, x+1/2, 0) with x ~ 0.21 (octahedral tilt ~ 10 deg; "
                  "APPROXIMATE: superstructure intensities depend on it), MA as C + N at "
                  "4b"},
    "MAPbI3-pc": {
        "cell": (6.2838,) * 3 + _CUBIC, "spacegroup": "P m -3 m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.5), ("I", .5, 0, 0, 1.0, 4.0),
                  ("C", .5, .5, .5, 1.0, 6.0), ("N", .5, .5, .5, 1.0, 6.0)),
        "source": "pseudo-cubic MAPbI3: the room-temperature tetragonal cell of Poglitsch "
                  "& Weber, J. Chem. Phys. 87, 6373 (1987) (a = 8.855, c = 12.659 A) as "
                  "a cube of the same volume per formula unit, a = (a^2 c / 4)^(1/3) = "
                  "6.2838 A; the tetragonal splitting (~1 %) and superstructure are "
                  "left out"},
    "MAPbI3-cubic": {
        "cell": (6.3285,) * 3 + _CUBIC, "spacegroup": "P m -3 m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.5), ("I", .5, 0, 0, 1.0, 4.0),
                  ("C", .5, .5, .5, 1.0, 6.0), ("N", .5, .5, .5, 1.0, 6.0)),
        "source": "cubic MAPbI3 above 327 K, Pm-3m, a = 6.3285 A (at 330 K): A. "
                  "Poglitsch & D. Weber, J. Chem. Phys. 87, 6373 (1987); MA as C + N at "
                  "the cube centre"},
    "FAPbI3": {
        "cell": (6.3620,) * 3 + _CUBIC, "spacegroup": "P m -3 m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.5), ("I", .5, 0, 0, 1.0, 4.0),
                  ("C", .5, .5, .5, 1.0, 6.0), ("N", .5, .5, .5, 2.0, 6.0)),
        "source": "alpha-FAPbI3 (HC(NH2)2PbI3), Pm-3m, a = 6.3620 A at 298 K: M. T. "
                  "Weller et al., Chem. Commun. 51, 4180 (2015); FA as C + 2 N at the cube "
                  "centre"},
    "CsPbBr3-tetra": {
        "cell": (8.27, 8.27, 5.89) + _CUBIC, "spacegroup": "P 4/m b m",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.0), ("Cs", 0, .5, .5, 1.0, 3.0),
                  ("Br", 0, 0, .5, 1.0, 3.0), ("Br", .22, .72, 0, 1.0, 3.0)),
        "source": "tetragonal CsPbBr3, P4/mbm (stable 88-130 C): S. Hirotsu et al., J. "
                  "Phys. Soc. Jpn. 37, 1393 (1974); cell (sqrt2 a_p, sqrt2 a_p, a_p) with "
                  "a_p ~ 5.85-5.89 A: a = 8.27 A, c = 5.89 A APPROXIMATE (~0.3 %: refine). "
                  "Pb 2a, Cs 2c, Br 2b and 4g (x, x+1/2, 0) with an assumed x = 0.22"},
    "PbI2": {
        "cell": (4.557, 4.557, 6.979, 90.0, 90.0, 120.0), "spacegroup": "P -3 m 1",
        "sites": (("Pb", 0, 0, 0, 1.0, 1.5), ("I", 1 / 3, 2 / 3, 0.265, 1.0, 1.5)),
        "source": "2H-PbI2 (CdI2 type), P-3m1, a = 4.557 A, c = 6.979 A: ICDD PDF "
                  "07-0235; I at (1/3, 2/3, z ~ 0.265)"},
}

#: Names of the built-in phases.
BUILTIN_NAMES = tuple(LIBRARY)


def _library():

    out = {}
    for name, d in LIBRARY.items():
        sites = tuple(Site(*row) for row in d["sites"])
        out[name] = Phase(name, *d["cell"], spacegroup=d["spacegroup"], sites=sites,
                          source=d["source"])
    return out




def builtin_phase(name: str) -> Phase:
    """A phase by name (case-insensitive): the built-in library (:data:`BUILTIN_NAMES`:
    LaB6, Si, CsPbBr3 (cubic), CsPbBr3-ortho (Pnma), CsPbBr3-tetra (P4/mbm), CsPbI3,
    PbS, ITO, Au, CeO2, SnO2, FTO, MAPbI3 (I4/mcm), MAPbI3-pc, MAPbI3-cubic, FAPbI3,
    PbI2), else a pyFAI calibrant (:func:`calibrant_phase`).

    Examples
    --------
    >>> builtin_phase("mapbi3").spacegroup
    'I 4/m c m'
    >>> builtin_phase("ZnO").source.startswith("pyFAI calibrant ZnO")
    True
    """
    lib = _library()
    for key, phase in lib.items():
        if key.lower() == str(name).lower():
            return phase
    cal = {n.lower(): n for n in calibrant_names()}
    if str(name).lower() in cal:
        return calibrant_phase(cal[str(name).lower()])
    raise ValueError(f"unknown phase {name!r}; built-in phases are {', '.join(lib)}, "
                     f"pyFAI calibrants {', '.join(calibrant_names())} "
                     "(or give a .cif file, or NAME:sg=...,a=...)")


def calibrant_names() -> tuple:
    """Names of pyFAI's calibrants (``pyFAI.calibrant.CALIBRANT_FACTORY``).

    Returns
    -------
    tuple of str
        Sorted calibrant names, as :func:`calibrant_phase` takes them.

    Examples
    --------
    >>> names = calibrant_names()
    >>> "LaB6" in names, "AgBh" in names, list(names) == sorted(names)
    (True, True, True)
    """
    from pyFAI.calibrant import CALIBRANT_FACTORY

    return tuple(sorted(CALIBRANT_FACTORY.keys()))


#: Space groups of calibrants whose pyFAI header does not name one: the lowest-symmetry
#: group of the stated lattice, used for the metric and the line families only.
_CALIBRANT_GROUP = {"verneite": "I 2 3"}

_NUM = r"([0-9]*\.?[0-9]+|inf)"


def _parse_cell(header: str):
    """(a, b, c, alpha, beta, gamma, symbol) from a pyFAI ``# Cell:`` line, or None."""
    text = header.replace("\u00c5", "").replace("\u00b0", "").replace("\u03b1", "alpha") \
        .replace("\u03b2", "beta").replace("\u03b3", "gamma")
    sym = re.search(r"\(([^()]*)\)\s*$", text.strip())
    symbol = sym.group(1).split(",")[0].strip() if sym else None
    vals = {}
    for key in ("alpha", "beta", "gamma", "a", "b", "c"):
        m = re.search(rf"(?<![a-z]){key}=(?:[a-z]=)*{_NUM}", text)
        if m:
            vals[key] = float(m.group(1))
    chained = re.findall(r"((?:[a-z]+=)+)" + _NUM, text)  # a=b=10.3, alpha=beta=90
    for keys, val in chained:
        for key in keys.strip("=").split("="):
            vals.setdefault(key, float(val))
    if "a" not in vals:
        nums = re.findall(r"(?<![\w.])" + _NUM + r"(?![\w.])", text.split("(")[0])
        if len(nums) >= 6:
            vals.update(zip(("a", "b", "c", "alpha", "beta", "gamma"), map(float, nums[:6])))
    if "a" not in vals and "c" not in vals:
        return None
    a = vals.get("a", math.inf)
    return (a, vals.get("b", a), vals.get("c", a), vals.get("alpha", 90.0),
            vals.get("beta", 90.0), vals.get("gamma", 90.0), symbol)


def _calibrant_file(filename):
    """Path of a pyFAI calibrant file (``pyfai:NAME`` -> pyFAI's calibration directory)."""
    if filename.startswith("pyfai:"):
        from pyFAI.utils import get_calibration_dir

        return os.path.join(get_calibration_dir(), filename[6:] + ".D")
    return filename


@functools.lru_cache(maxsize=None)
def calibrant_phase(name: str) -> Phase:
    """A pyFAI calibrant as a phase: the cell and space group of the calibrant file's
    ``# Cell:`` header, restricted to the (h k l) lines the file lists (so its rings are
    pyFAI's); no atoms (|F|^2 = 1: intensities not predicted).

    A lamellar calibrant (AgBh, C14H30O: ``a = b = inf``) becomes a cubic cell of the
    layer period with only its (0 0 l) orders. A calibrant without a cell or without
    (h k l) labels (mock, CrOx) is refused: its d-list alone cannot be refined.

    Examples
    --------
    >>> p = calibrant_phase("AgBh")
    >>> round(float(p.q_of([0, 0, 1])), 5), p.hkl_list[:2]
    (0.10763, ((0, 0, 1), (0, 0, 2)))
    """
    import gemmi
    from pyFAI.calibrant import CALIBRANT_FACTORY

    if name not in CALIBRANT_FACTORY.keys():
        raise ValueError(f"unknown pyFAI calibrant {name!r}; known: "
                         f"{', '.join(calibrant_names())}")
    path = _calibrant_file(CALIBRANT_FACTORY(name).filename)
    header, hkls = "", []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("#"):
                if line[1:].strip().lower().startswith("cell:"):
                    header = line[1:].strip()[5:]
                continue
            m = re.search(r"#\s*\(\s*(-?\d+)\s+(-?\d+)\s+(-?\d+)\s*\)", line)
            if line.strip():
                hkls.append(tuple(int(v) for v in m.groups()) if m else None)
    cell = _parse_cell(header)
    if cell is None or not hkls or any(h is None for h in hkls):
        raise ValueError(f"pyFAI calibrant {name} lists d-spacings without a cell or "
                         "(h k l) labels; it cannot be indexed or refined (give "
                         f"{name}:sg=...,a=... if you know its cell)")
    a, b, c, al, be, ga, symbol = cell
    source = f"pyFAI calibrant {name} ({os.path.basename(path)}): cell {header.strip()}"
    if not math.isfinite(a) or not math.isfinite(b):
        if any(h[:2] != (0, 0) for h in hkls):
            raise ValueError(f"pyFAI calibrant {name}: infinite in-plane cell but "
                             "(h k 0) lines listed")
        return Phase(name, c, c, c, spacegroup="P m -3 m", hkl_list=tuple(hkls),
                     source=source + "; lamellar: a cubic cell of the layer period with "
                                     "only its (0 0 l) orders")
    group = _CALIBRANT_GROUP.get(name) or symbol
    sg = gemmi.find_spacegroup_by_name(group) if group else None
    if sg is None:
        raise ValueError(f"pyFAI calibrant {name}: space group {symbol!r} not understood")
    if group != symbol:
        source += f"; space group {group} assumed for the metric and line families"
    return Phase(name, a, b, c, al, be, ga, spacegroup=sg.xhm(), hkl_list=tuple(hkls),
                 source=source)


def parse_phase_model(spec: str, default_orientation=None) -> tuple:
    """(Phase, orientation) from a spec ``NAME[:key=value,...]`` that may also carry
    ``hkl=H/K/L`` (fibre texture with that plane parallel to the surface) or ``random``
    (random powder); without either the orientation is ``default_orientation``.
    The other keys go to :func:`parse_phase`.

    Examples
    --------
    >>> phase, orient = parse_phase_model("CsPbBr3:a=5.95,hkl=0/0/1")
    >>> round(phase.a, 2), orient
    (5.95, (0, 0, 1))
    >>> parse_phase_model("Si:random", (1, 0, 0))[1] is None
    True
    """
    name, _, rest = str(spec).partition(":")
    keep, orient = [], "default"
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, _, val = item.partition("=")
        if key.strip().lower() == "hkl":
            try:
                orient = tuple(int(v) for v in val.replace(" ", "/").split("/") if v)
            except ValueError:
                orient = ()
            if len(orient) != 3:
                raise ValueError(f"--phase {spec!r}: hkl must be H/K/L, got {val!r}")
        elif key.strip().lower() == "random":
            orient = None
        else:
            keep.append(item)
    phase = parse_phase(name + (":" + ",".join(keep) if keep else ""))
    if orient == "default":
        orient = None if default_orientation is None else tuple(default_orientation)
    return phase, orient


def parse_phase(spec: str) -> Phase:
    """Phase from a command-line spec ``NAME[:key=value,...]``.

    NAME is a built-in phase, a ``.cif`` path, or a new name with ``sg=`` (space group,
    e.g. ``sg=Pm-3m``). Keys ``a, b, c`` (A) and ``alpha, beta, gamma`` (deg) override
    the lattice constants, e.g. ``CsPbBr3:a=5.95`` or ``film:sg=P4/mmm,a=5.9,c=6.1``.

    Parameters
    ----------
    spec : str
        The phase spec, as ``--phase`` takes it.

    Returns
    -------
    Phase
        The phase, constants in A and deg (the crystal system's constraints kept).

    Examples
    --------
    >>> p = parse_phase("film:sg=P4/mmm,a=5.9,c=6.1")
    >>> p.spacegroup, p.crystal_system, (p.a, p.b, p.c)
    ('P 4/m m m', 'tetragonal', (5.9, 5.9, 6.1))
    >>> p = parse_phase("CsPbBr3:a=5.95")
    >>> p.spacegroup, p.c
    ('P m -3 m', 5.95)
    >>> parse_phase("film:sg=Pm-3m")
    Traceback (most recent call last):
    ...
    ValueError: --phase 'film:sg=Pm-3m': a user phase needs a=... (A)
    """

    name, _, rest = str(spec).partition(":")
    if name.lower().endswith(".cif") and ":" in spec and not os.path.isfile(name):
        name, rest = spec, ""  # a path containing ':'
    opts = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise ValueError(f"--phase {spec!r}: expected key=value after ':', got {item!r}")
        opts[key.strip().lower()] = val.strip()
    sg = opts.pop("sg", None)
    try:
        nums = {k: float(v) for k, v in opts.items()}
    except ValueError:
        raise ValueError(f"--phase {spec!r}: lattice constants must be numbers") from None

    if name.lower().endswith(".cif"):
        phase = Phase.from_cif(name)
    elif sg is not None:
        if "a" not in nums:
            raise ValueError(f"--phase {spec!r}: a user phase needs a=... (A)")
        return Phase.from_constants(name, sg, **nums)
    else:
        phase = builtin_phase(name)
    return phase.with_parameters(**nums) if nums else phase
