"""The built-in phase library as plain data, each entry with its literature source.

``cell``: a, b, c (A), alpha, beta, gamma (deg); ``spacegroup``: Hermann-Mauguin symbol
as gemmi knows it; ``sites``: asymmetric unit as (element, x, y, z, occupancy, B_iso in
A^2). Displacement parameters are typical room-temperature values (not refined ones)
and only shape the relative intensities. :func:`builtin_phase` and :func:`parse_phase`
(re-exported by :mod:`gixs.bragg.lattice`) turn them into :class:`gixs.bragg.lattice.Phase` objects.
"""

from __future__ import annotations

import os

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
    """A phase of the built-in library by name (case-insensitive): LaB6, Si, CsPbBr3
    (cubic), CsPbBr3-ortho (Pnma), CsPbI3 (cubic), PbS, ITO, PbI2."""
    lib = _library()
    for key, phase in lib.items():
        if key.lower() == str(name).lower():
            return phase
    raise ValueError(f"unknown phase {name!r}; built-in phases are {', '.join(lib)} "
                     "(or give a .cif file, or NAME:sg=...,a=...)")


def parse_phase(spec: str) -> Phase:
    """Phase from a command-line spec ``NAME[:key=value,...]``.

    NAME is a built-in phase, a ``.cif`` path, or a new name with ``sg=`` (space group,
    e.g. ``sg=Pm-3m``). Keys ``a, b, c`` (A) and ``alpha, beta, gamma`` (deg) override
    the lattice constants, e.g. ``CsPbBr3:a=5.95`` or ``film:sg=P4/mmm,a=5.9,c=6.1``.
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
