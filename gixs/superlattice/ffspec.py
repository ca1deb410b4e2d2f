"""The ``--form-factor`` specification: its text, its parser and the spec it gives.

Kept apart from :mod:`gixs.superlattice.formfactor` (sasmodels, scipy) so that building
the command line (``gixs --help``) imports neither numpy nor scipy.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["FormFactorSpec", "parse_form_factor", "CLI_HELP", "SPEC_HELP"]

DISTRIBUTIONS = ("schulz", "gaussian")
STRUCTURES = ("peak", "hardsphere")
SPEC_HELP = ("'auto[:pd=schulz|gaussian,sq=peak|hardsphere]' or "
             "'sphere:R=<radius nm>[,sigma=<relative polydispersity>][,pd=schulz|gaussian]"
             "[,sq=peak|hardsphere]'")
#: Help text of ``--form-factor`` (gixs spacing, gixs batch).
CLI_HELP = (
    "fit the dots' form factor with the peak: I = A P(q) S(q) + background, P a "
    "polydisperse sphere and S a structure-factor peak (sq=peak, default) or "
    "Percus-Yevick hard spheres (sq=hardsphere), both from sasmodels. "
    "'sphere:R=5.5,sigma=0.1' gives the radius (nm) and relative polydispersity "
    "(pd=schulz default, or gaussian); 'auto' fits R and sigma from the high-q decay of "
    "a ring profile (|q|) and refuses when it does not reach past the first form-factor "
    "minimum (q R = 4.49), or on an in-plane cut (its q_xy decay is the distorted-wave "
    "form factor, not the Born P). Adds q_star_structure / d_spacing_structure (the "
    "structure-factor peak: the lattice) and form_factor {model, radius_nm, sigma, radius_err_nm, sigma_err, fitted}; "
    "q_star / d_spacing stay the observed peak, read from the data's top (below the "
    "lattice's on a steep P: a cubic on the top, or the parabola through its three highest "
    "bins when it has fewer than 7). On an in-plane cut where the peak's |q| R exceeds 3.8 (near the first "
    "minimum) the structure-factor peak is refused (form_factor.refused says why). "
    "Default: off")

@dataclasses.dataclass(frozen=True)
class FormFactorSpec:
    """What the form-factor fit uses: ``radius_nm`` / ``sigma`` None = fitted ("auto").

    Examples
    --------
    >>> FormFactorSpec(radius_nm=5.5, sigma=0.1).describe()
    'sphere R = 5.5 nm, sigma = 0.1 (schulz), S(q) peak'
    """

    model: str = "sphere"
    radius_nm: float | None = None
    sigma: float | None = None
    distribution: str = "schulz"
    structure: str = "peak"

    @property
    def fitted(self) -> bool:
        """True when radius and polydispersity are fitted (``auto``)."""
        return self.radius_nm is None

    def describe(self) -> str:
        """One line for people, units named."""
        dots = ("sphere, R and sigma fitted" if self.fitted else
                f"sphere R = {self.radius_nm:g} nm, sigma = {self.sigma:g}")
        return f"{dots} ({self.distribution}), S(q) {self.structure}"


def parse_form_factor(spec) -> FormFactorSpec | None:
    """A :class:`FormFactorSpec` from ``--form-factor`` text (None/"none" -> None).

    Raises ValueError (one line naming ``--form-factor``) on a bad spec.

    Examples
    --------
    >>> parse_form_factor("sphere:R=5.5,sigma=0.1")
    FormFactorSpec(model='sphere', radius_nm=5.5, sigma=0.1, distribution='schulz', structure='peak')
    >>> parse_form_factor("auto").fitted
    True
    >>> parse_form_factor("sphere:R=-1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --form-factor: R must be a positive radius in nm, got -1 (expected ...)
    """
    if spec is None or isinstance(spec, FormFactorSpec):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"--form-factor: expected {SPEC_HELP}, got {spec!r}")
    text = spec.strip()
    if text.lower() in ("", "none", "off"):
        return None
    head, _, rest = text.partition(":")
    head = head.strip().lower()
    if head not in ("sphere", "auto"):
        raise ValueError(f"--form-factor: unknown model {head!r} in {spec!r} (expected "
                         f"{SPEC_HELP})")
    keys = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        k, eq, v = item.partition("=")
        k = k.strip().lower()
        allowed = ("pd", "sq") if head == "auto" else ("r", "sigma", "pd", "sq")
        if not eq or k not in allowed or k in keys:
            raise ValueError(f"--form-factor: bad item {item!r} in {spec!r} (expected "
                             f"{SPEC_HELP})")
        keys[k] = v.strip()
    kw = {"distribution": keys.pop("pd", "schulz").lower(),
          "structure": keys.pop("sq", "peak").lower()}
    if kw["distribution"] not in DISTRIBUTIONS:
        raise ValueError(f"--form-factor: pd must be schulz or gaussian, got "
                         f"{kw['distribution']!r} (expected {SPEC_HELP})")
    if kw["structure"] not in STRUCTURES:
        raise ValueError(f"--form-factor: sq must be peak or hardsphere, got "
                         f"{kw['structure']!r} (expected {SPEC_HELP})")
    if head == "auto":
        return FormFactorSpec(**kw)
    if "r" not in keys:
        raise ValueError(f"--form-factor: sphere needs R=<radius nm>, got {spec!r} "
                         f"(expected {SPEC_HELP})")
    r = _number(keys["r"], "R")
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"--form-factor: R must be a positive radius in nm, got "
                         f"{keys['r']} (expected {SPEC_HELP})")
    sg = _number(keys.get("sigma", "0"), "sigma")
    if not (math.isfinite(sg) and 0 <= sg < 0.5):
        raise ValueError(f"--form-factor: sigma must be a relative polydispersity in "
                         f"[0, 0.5), got {keys['sigma']} (expected {SPEC_HELP})")
    return FormFactorSpec(radius_nm=r, sigma=sg, **kw)


def _number(text, name):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--form-factor: {name} must be a number, got {text!r} (expected "
                         f"{SPEC_HELP})") from None
