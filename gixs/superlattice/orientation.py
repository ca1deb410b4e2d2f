"""Orientation of the superlattice peak in one GISAXS frame (angles in deg in outputs).

Computed from the frame's pixels (their q, chi, q_xy, q_z from :func:`gixs.geometry.gi.pixel_q`
and the corrected intensity ``data / (solid angle x polarization)``), at the
first-order position q* and width FWHM found by :mod:`gixs.superlattice.ordering`:

* **chi profile at q*** : ``I_peak(chi)`` = mean intensity of the ring through the
  measured peak, ``Q = sqrt(q*^2 + q_z^2)`` (q_z of the in-plane band's centre; Q = q*
  for an azimuthal profile), ``|q - Q| <= FWHM/2`` minus the mean of the two side bands
  ``FWHM <= |q - q*| <= 1.5 FWHM``, in 5 deg chi bins. chi is measured from the
  surface normal (0 = along q_z, +-90 = in the film plane). In GISAXS only the part
  of the ring above the sample horizon is seen: ``chi_coverage_deg`` says which.
* ``in_plane_fraction`` : share of ``I_peak |sin chi|`` at |chi| >= 45 deg.
* ``hermans_f = (3 <cos^2 chi> - 1) / 2`` with weights ``max(I_peak, 0) |sin chi|``
  (fibre symmetry about the surface normal): +1 = scattering vectors along the
  normal (layers parallel to the substrate), -0.5 = all in plane, 0 = random; over
  the covered chi range only.
* ``sixfold_amplitude = |sum I e^{6 i chi}| / sum I`` over the covered chi bins: the
  six-fold harmonic of the chi profile. It can only mark a hexagonal lattice seen
  edge-on with a fixed in-plane rotation (a single crystal domain); a 2D powder of
  hexagonal domains (the usual film) gives none, whatever its order.
* **rod vs ring** : what one frame can show about 2D (in-plane) order. A 2D lattice of
  dots scatters into rods at fixed |q_xy| = q* for every q_z; a 3D powder into a ring
  at |q| = const. The peak's |q_xy| centroid is measured in q_z slices above the
  horizon; ``rod_index = (q_xy(top) - ring(top)) / (q_xy(horizon) - ring(top))`` is 1
  for a rod and 0 for a ring, ``ring(top) = sqrt(Q^2 - q_z(top)^2 + q_z(horizon)^2)``
  being where a ring through the horizon-slice peak would be.
* **hexagonal order indicator** (``hexagonal_order``): true when the higher orders
  found match 2D hexagonal ratios 1 : sqrt3 : 2 : sqrt7 (at least one, none
  unexplained) and the peak is rod-like (``rod_index > 0.5``); each part is reported.
"""

from __future__ import annotations

import math

import numpy as np

UNITS = {"orientation.chi_deg": "deg", "orientation.chi_coverage_deg": "deg",
         "orientation.in_plane_fraction": "1", "orientation.hermans_f": "1",
         "orientation.sixfold_amplitude": "1", "orientation.q_ring": "A^-1", "orientation.rod_index": "1",
         "orientation.slices.qz": "A^-1", "orientation.slices.qxy": "A^-1"}


def _bin_mean(values, weights, norm, edges):
    idx = np.digitize(values, edges) - 1
    n = len(edges) - 1
    ok = (idx >= 0) & (idx < n)
    s = np.bincount(idx[ok], weights=weights[ok], minlength=n)
    w = np.bincount(idx[ok], weights=norm[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w > 0, s / w, np.nan), w


def chi_profile(data, valid, norm, pq, q_star, fwhm, chi_step_deg=5.0):
    """Background-subtracted peak intensity versus chi (deg) at q* (see module doc).

    ``data``, ``valid``, ``norm`` are flat per-pixel arrays; ``pq`` a PixelQ of the frame.
    Returns (chi centres deg, I_peak, sigma) with NaN where no pixel is.
    """
    q = pq.q.ravel()
    chi = np.degrees(pq.chi.ravel())
    ring = valid & (np.abs(q - q_star) <= fwhm / 2)
    side = valid & (np.abs(q - q_star) >= fwhm) & (np.abs(q - q_star) <= 1.5 * fwhm)
    edges = np.arange(-180.0, 180.0 + chi_step_deg / 2, chi_step_deg)
    i_ring, w_ring = _bin_mean(chi[ring], data[ring], norm[ring], edges)
    i_side, w_side = _bin_mean(chi[side], data[side], norm[side], edges)
    v_ring, _ = _bin_mean(chi[ring], np.clip(data[ring], 0, None), norm[ring], edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        sig = np.sqrt(np.clip(v_ring, 0, None) / w_ring)
    return (edges[:-1] + edges[1:]) / 2, i_ring - i_side, sig


def _slice_centroids(data, valid, norm, pq, q_star, fwhm, nslices=4):
    qz = pq.qz.ravel()
    aq = np.abs(pq.qxy.ravel())
    above = valid & (pq.exit_angle.ravel() >= 0)
    if not above.any():
        return []
    qz_h = float(np.min(qz[above]))
    top = min(float(np.max(qz[above])), qz_h + 1.2 * q_star)
    width = (top - qz_h) / nslices
    edges_q = np.linspace(q_star - 2.5 * fwhm, q_star + 2.5 * fwhm, 41)
    centres = (edges_q[:-1] + edges_q[1:]) / 2
    out = []
    for k in range(nslices):
        lo, hi = qz_h + k * width, qz_h + (k + 1) * width
        sel = above & (qz >= lo) & (qz < hi)
        if sel.sum() < 50:
            continue
        prof, _ = _bin_mean(aq[sel], data[sel], norm[sel], edges_q)
        ok = np.isfinite(prof)
        if ok.sum() < 20:
            continue
        outer = ok & (np.abs(centres - q_star) >= 1.5 * fwhm)
        if outer.sum() < 4:
            continue
        bgc = np.polyfit(centres[outer], prof[outer], 1)
        exc = prof - np.polyval(bgc, centres)
        inner = ok & (np.abs(centres - q_star) < 1.5 * fwhm) & (exc > 0)
        if inner.sum() < 3 or exc[inner].sum() <= 0:
            continue
        c = float(np.sum(centres[inner] * exc[inner]) / np.sum(exc[inner]))
        out.append({"qz": (lo + hi) / 2, "qxy": c, "signal": float(np.sum(exc[inner]))})
    return out


def orientation_metrics(data, valid, norm, pq, q_star, fwhm, orders_hex_fit=None,
                        qz_ring=0.0):
    """Orientation metrics of the peak at ``q_star`` (1/A) of width ``fwhm`` (1/A).

    Parameters
    ----------
    data, valid, norm : ndarray
        Per-pixel counts, validity and (solid angle x polarization), any shape.
    pq : PixelQ
        The frame's scattering coordinates.
    orders_hex_fit : bool or None
        Whether the higher orders match 2D hexagonal ratios (from the ordering fit).
    qz_ring : float
        q_z (1/A) at which the peak was measured (centre of the in-plane band); the chi
        profile is taken on the ring ``|q| = sqrt(q*^2 + qz_ring^2)`` through it, since
        the horizon (q_z = k0 sin a_i) keeps the ring ``|q| = q*`` off a rod.

    Returns
    -------
    dict
        See module docstring; JSON-ready.
    """
    data = np.asarray(data, float).ravel()
    # only pixels above the sample horizon see the film's scattering
    valid = np.asarray(valid, bool).ravel() & np.isfinite(data) & \
        (pq.exit_angle.ravel() >= 0)
    norm = np.asarray(norm, float).ravel()
    q_ring = math.hypot(q_star, qz_ring)
    chi, ipk, sig = chi_profile(data, valid, norm, pq, q_ring, fwhm)
    cov = np.isfinite(ipk)
    out = {"q_ring": q_ring, "chi_deg": chi[cov].tolist(), "intensity": ipk[cov].tolist(),
           "sigma": sig[cov].tolist(),
           "chi_coverage_deg": [float(chi[cov].min()), float(chi[cov].max())]
           if cov.any() else None}
    if cov.sum() >= 3:
        c = np.radians(chi[cov])
        w = np.clip(ipk[cov], 0, None)
        ws = w * np.abs(np.sin(c))
        tot = ws.sum()
        if tot > 0:
            cos2 = float(np.sum(ws * np.cos(c) ** 2) / tot)
            out["hermans_f"] = (3 * cos2 - 1) / 2
            out["in_plane_fraction"] = float(ws[np.abs(chi[cov]) >= 45].sum() / tot)
        if w.sum() > 0:
            out["sixfold_amplitude"] = float(abs(np.sum(w * np.exp(6j * c))) / w.sum())
    slices = _slice_centroids(data, valid, norm, pq, q_star, fwhm)
    out["slices"] = slices
    rod = None
    if len(slices) >= 2:
        base = slices[0]
        strong = [s for s in slices[1:] if s["signal"] >= 0.1 * base["signal"]]
        if strong:
            topc = strong[-1]
            big_q2 = base["qxy"] ** 2 + base["qz"] ** 2
            ring = math.sqrt(max(big_q2 - topc["qz"] ** 2, 0.0))
            if base["qxy"] - ring > 0.5 * fwhm:  # rings and rods are separable
                rod = (topc["qxy"] - ring) / (base["qxy"] - ring)
    out["rod_index"] = rod
    rod_like = None if rod is None else bool(rod > 0.5)
    out["rod_like"] = rod_like
    out["hexagonal_order"] = {
        "higher_orders_match_hex2d": orders_hex_fit, "rod_like": rod_like,
        "indicator": bool(orders_hex_fit and rod_like),
        "definition": "higher orders at 1:sqrt3:2:sqrt7 (>= 1 found, none unexplained) "
                      "AND rod-like peak (rod_index > 0.5)"}
    parts = []
    if "hermans_f" in out:
        parts.append(f"Hermans f = {out['hermans_f']:.2f} (normal axis), in-plane fraction "
                     f"{out['in_plane_fraction']:.2f}, six-fold amplitude "
                     f"{out.get('sixfold_amplitude', float('nan')):.2f} over chi "
                     f"{out['chi_coverage_deg'][0]:.0f}..{out['chi_coverage_deg'][1]:.0f} deg")
    parts.append("rod index " + ("n/a" if rod is None else f"{rod:.2f}") +
                 f"; hexagonal-order indicator {out['hexagonal_order']['indicator']}")
    out["summary"] = "; ".join(parts)
    out["units"] = dict(UNITS)
    return out
