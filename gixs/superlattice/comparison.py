"""Comparing films: spacing change and ordering-intensity ratios against a reference.

Rows carry units in their keys (``d_change_nm``, ``d_change_pct``) and the text table in
its headers; the ratios are dimensionless. Used by ``gixs compare`` and notebooks.
"""

from __future__ import annotations

import math

from gixs.superlattice.ordering import UNITS, OrderingResult
from gixs.units import metric_column

def _metric(key, fmt):
    return key, metric_column(key, UNITS.get(key)), fmt


#: (row key, text-table header, format); metric headers from gixs.units.metric_column.
COMPARE_COLUMNS = (
    ("label", "label", ""), _metric("q_star", ".5f"), _metric("q_star_err", ".5f"),
    _metric("d_spacing", ".3f"), ("d_change_nm", "d_change_nm", "+.3f"),
    ("d_change_pct", "d_change_%", "+.2f"), _metric("nn_distance", ".3f"),
    ("lattice_model", "lattice", ""), _metric("fwhm", ".5f"),
    _metric("coherence_length", ".1f"), _metric("paracrystal_g", ".3f"),
    _metric("peak_height", ".4g"), ("height_ratio", "height_ratio", ".3f"),
    _metric("peak_area", ".4g"), ("area_ratio", "area_ratio", ".3f"),
    _metric("peak_to_valley", ".4g"), ("p2v_ratio_vs_ref", "p2v_diff_ratio", ".3f"),
    _metric("peak_to_valley_ratio", ".3f"),
)


#: A difference is "within error" when |value - reference| <= WITHIN_SIGMA x its error.
WITHIN_SIGMA = 2.0


def compare(results, labels=None, reference=0, *, normalizations=None):
    """Compare films: spacing change and intensity ratios against a reference film.

    Parameters
    ----------
    results : sequence of OrderingResult or dict
        Results (dicts as written by ``to_dict()`` / the JSON files also work).
    labels : sequence of str, optional
        One per result; default "film 1", "film 2"...
    reference : int
        Index of the reference (control) film.
    normalizations : sequence of dict, optional
        One :func:`gixs.superlattice.normalize.normalization` per film; heights, areas
        and peak-to-valley are divided by each film's ``factor`` before the ratios, and
        the terms are recorded in the rows (``normalization_terms``).

    Returns
    -------
    list of dict
        One row per film: the metrics plus ``d_change_nm``, ``d_change_pct``,
        ``height_ratio``, ``area_ratio`` and ``p2v_ratio_vs_ref`` (peak-to-valley
        difference over the reference's), errors propagated for d, height and area
        ratios, and flags ``d_within_error``, ``height_within_error``,
        ``area_within_error``: True when the difference from the reference is within
        ``WITHIN_SIGMA`` (2) standard errors.

    Examples
    --------
    An annealed film against its control (result dicts as ``to_dict()`` writes them;
    d in nm, heights in a.u.):

    >>> ref = {"q_star": 0.0503, "q_star_err": 1e-4, "d_spacing": 12.5,
    ...        "d_spacing_err": 0.02, "peak_height": 2000.0, "peak_height_err": 20.0,
    ...        "peak_area": 10.0, "peak_area_err": 0.1, "peak_to_valley": 1800.0}
    >>> film = dict(ref, d_spacing=13.0, peak_height=1000.0, peak_height_err=15.0,
    ...             peak_area=6.0, peak_to_valley=900.0)
    >>> control, annealed = compare([ref, film], labels=["control", "annealed"])
    >>> annealed["d_change_nm"], round(annealed["d_change_pct"], 6), annealed["d_within_error"]
    (0.5, 4.0, False)
    >>> annealed["height_ratio"], round(annealed["height_ratio_err"], 4)
    (0.5, 0.009)
    >>> round(0.5 * math.hypot(15 / 1000, 20 / 2000), 4)  # propagated by hand
    0.009
    >>> annealed["area_ratio"], annealed["p2v_ratio_vs_ref"], control["d_within_error"]
    (0.6, 0.5, True)
    """
    rows = [r.to_dict(include_profile=False) if isinstance(r, OrderingResult) else dict(r)
            for r in results]
    if not rows:
        raise ValueError("compare needs at least one result")
    labels = list(labels) if labels is not None else [f"film {i + 1}" for i in range(len(rows))]
    if len(labels) != len(rows):
        raise ValueError(f"got {len(labels)} labels for {len(rows)} results")
    if not 0 <= reference < len(rows):
        raise ValueError(f"reference must index the results (0..{len(rows) - 1}), "
                         f"got {reference}")
    if normalizations is not None:
        if len(normalizations) != len(rows):
            raise ValueError(f"got {len(normalizations)} normalizations for {len(rows)} "
                             "results")
        rows = [dict(r) for r in rows]
        for r, n in zip(rows, normalizations):
            f = float(n["factor"])
            for key in ("peak_height", "peak_height_err", "peak_area", "peak_area_err",
                        "peak_to_valley"):
                if r.get(key) is not None:
                    r[key] = r[key] / f
            r["normalization_terms"] = {k: v for k, v in n.items()}
    ref = rows[reference]
    out = []
    for lab, r in zip(labels, rows):
        def ratio(key, r=r):
            a, b = r.get(key), ref.get(key)
            return a / b if a is not None and b not in (None, 0) else float("nan")
        row = {"label": lab}
        for key in ("q_star", "q_star_err", "d_spacing", "d_spacing_err", "nn_distance",
                    "lattice_model", "fwhm", "coherence_length", "paracrystal_g",
                    "peak_height", "peak_height_err", "peak_area", "peak_to_valley",
                    "peak_to_valley_ratio", "normalization", "source"):
            row[key] = r.get(key)
        row["d_change_nm"] = r["d_spacing"] - ref["d_spacing"]
        row["d_change_pct"] = 100 * (r["d_spacing"] / ref["d_spacing"] - 1)
        row["d_change_err_nm"] = math.hypot(r.get("d_spacing_err") or 0,
                                            ref.get("d_spacing_err") or 0)
        row["height_ratio"] = ratio("peak_height")
        hr = row["height_ratio"]
        row["height_ratio_err"] = abs(hr) * math.hypot(
            (r.get("peak_height_err") or 0) / r["peak_height"],
            (ref.get("peak_height_err") or 0) / ref["peak_height"])
        row["area_ratio"] = ratio("peak_area")
        ar = row["area_ratio"]
        if r.get("peak_area") and ref.get("peak_area"):
            row["area_ratio_err"] = abs(ar) * math.hypot(
                (r.get("peak_area_err") or 0) / r["peak_area"],
                (ref.get("peak_area_err") or 0) / ref["peak_area"])
        else:
            row["area_ratio_err"] = float("nan")
        row["p2v_ratio_vs_ref"] = ratio("peak_to_valley")
        row["d_within_error"] = bool(abs(row["d_change_nm"]) <=
                                     WITHIN_SIGMA * row["d_change_err_nm"])
        row["height_within_error"] = bool(abs(hr - 1) <= WITHIN_SIGMA * row["height_ratio_err"])
        row["area_within_error"] = bool(abs(ar - 1) <= WITHIN_SIGMA * row["area_ratio_err"])
        if "normalization_terms" in r:
            row["normalization_terms"] = r["normalization_terms"]
        out.append(row)
    return out


def format_table(rows) -> str:
    """A fixed-width text table of :func:`compare` rows (headers carry units).

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`compare`; missing or non-finite values print as ``-``.

    Examples
    --------
    >>> ref = {"q_star": 0.0503, "d_spacing": 12.5, "peak_height": 2000.0,
    ...        "peak_area": 10.0}
    >>> rows = compare([ref, dict(ref, d_spacing=13.0)], labels=["control", "annealed"])
    >>> lines = format_table(rows).splitlines()
    >>> lines[0].split()[:6]
    ['label', 'q_star_A^-1', 'q_star_err_A^-1', 'd_spacing_nm', 'd_change_nm', 'd_change_%']
    >>> lines[2].split()[:6]
    ['annealed', '0.05030', '-', '13.000', '+0.500', '+4.00']
    """

    heads = [h for _, h, _ in COMPARE_COLUMNS]
    cells = []
    for r in rows:
        line = []
        for key, _, fmt in COMPARE_COLUMNS:
            v = r.get(key)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                line.append("-")
            else:
                line.append(format(v, fmt) if fmt else str(v))
        cells.append(line)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    fmt_line = "  ".join("{:>%d}" % w for w in widths)
    return "\n".join([fmt_line.format(*heads)] + [fmt_line.format(*c) for c in cells])
