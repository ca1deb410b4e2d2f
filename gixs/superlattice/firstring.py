"""Is a ring the film's first order? What the pixels just above the horizon say.

A ring is measured on |q| from the film pixels, which start at an exit angle of 1.5
times the Yoneda angle. At 18 keV and 0.35-0.4 deg that is q_z ~ 0.09-0.10 1/A: the
first rings of a 7-10 nm superlattice (|q| 0.06-0.09 1/A) have no film pixel, and
I(|q|) of the film pixels peaks on a higher order ((220) of an fcc powder, +61% in q*)
with nothing to say so. Two tests, on the profile the ring was measured on:

1. :func:`horizon_slab`: I(|q|) of a thin slab of exit angles just above the horizon
   (:data:`SLAB_PIXELS` pixel rows from the in-plane cuts' floor, off the specular rod).
   On |q| a ring is sharp at any q_z, so a ring below the measured one shows there even
   when the film pixels miss it; the Yoneda factor barely changes across so thin a slab.
   A significant peak there, 2 FWHM or more below the measured ring, is a lower order.
2. :func:`first_order_ratio`: when no pixel above the horizon reaches |q| below half
   the measured ring (neither the film pixels' profile nor the slab), a lower order
   could hide there; the ring is then taken as the first order only if a higher order
   found with it stands at a first-order ratio of a common lattice
   (:data:`FIRST_ORDER_RATIOS`).
"""

from __future__ import annotations

import math

import numpy as np

#: Pixel rows (of q_z) of the slab just above the horizon.
SLAB_PIXELS = 4

#: q(order) / q(first order) of the common superlattice powders: fcc (200)/(111),
#: bcc (200)/(110) and sc (110)/(100), fcc (220)/(111), hexagonal (11)/(10) and bcc
#: (211)/(110), and a second order.
FIRST_ORDER_RATIOS = (2 / math.sqrt(3), math.sqrt(2), math.sqrt(8 / 3), math.sqrt(3), 2.0)

#: Relative tolerance of :func:`first_order_ratio` (the measured (220)/(111) of
#: sasmodels fcc paracrystal rings is 1.617-1.618, 0.9% below sqrt(8/3)).
RATIO_TOLERANCE = 0.015


def horizon_slab(plan, data, valid, pq, qz_floor, px_qz, specular_halfwidth, *, dark=None,
                 flat=None):
    """I(|q|) of the valid pixels in ``qz_floor <= q_z < qz_floor + SLAB_PIXELS px`` with
    ``|q_xy| >=`` the specular half-width, and the lowest |q| (1/A) it shows clearly.

    Parameters
    ----------
    plan : gixs.reduce.frame.Plan
        The measurement's plan (an ``iq`` block binning every pixel).
    data, valid : ndarray
        The frame (counts) and its usable pixels (image shape).
    pq : gixs.geometry.gi.PixelQ
        Pixel coordinates of the plan (1/A).
    qz_floor : float
        q_z (1/A) where the in-plane cuts start (just above the horizon, or the Yoneda
        with refraction on).
    px_qz : float
        q_z height of one pixel (1/A).
    specular_halfwidth : float
        Half-width (1/A) of the specular rod left out.

    Returns
    -------
    (Profile, float, (float, float))
        The profile, its lowest clear |q| (1/A; 2% above the slab's corner) and the slab's
        q_z range (1/A).
    """
    from gixs.superlattice.classify import _in_band, band_rows
    from gixs.superlattice.pixelprofile import subset_profile

    lo, hi = float(qz_floor), float(qz_floor) + SLAB_PIXELS * float(px_qz)
    rows = band_rows(pq, lo, hi)
    sel = _in_band(valid[rows[0]:rows[1]], pq.qz[rows[0]:rows[1]], lo, hi)
    sel &= np.abs(pq.qxy[rows[0]:rows[1]]) >= specular_halfwidth
    prof = subset_profile(plan, "iq", sel, data, dark=dark, flat=flat, rows=rows,
                          band={"qz_A^-1": [lo, hi], "pixels": "off the specular rod"})
    return prof, 1.02 * math.hypot(specular_halfwidth, hi), (lo, hi)


def first_order_ratio(orders):
    """The first ratio of ``orders`` (dicts with ``ratio``, q / q*) within
    :data:`RATIO_TOLERANCE` of one of :data:`FIRST_ORDER_RATIOS`, or None.

    Examples
    --------
    >>> first_order_ratio([{"ratio": 1.376}, {"ratio": 1.618}])
    1.618
    >>> first_order_ratio([{"ratio": 1.18}, {"ratio": 1.23}]) is None
    True
    """
    for o in orders or ():
        r = float(o["ratio"])
        if any(abs(r / t - 1) <= RATIO_TOLERANCE for t in FIRST_ORDER_RATIOS):
            return r
    return None
