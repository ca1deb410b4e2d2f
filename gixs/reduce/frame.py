"""Corrections and reduction of one frame to profiles and maps (the pyFAI call site).

pyFAI gives the pixel positions, solid angles and polarization factors; gixs bins
pixels by their grazing-incidence coordinates (:mod:`gixs.geometry.gi`) with no pixel
splitting, so no bin is ever filled from a neighbour: the missing wedge and detector
gaps stay empty (NaN). Every output of a frame (azimuthal I(q), sectors, in-plane and
out-of-plane cuts, q_xy/q_z and (q, chi) maps) is one block of rows of a single sparse
pixel-to-bin matrix, built once per geometry and cached, so a frame costs four sparse
matrix-vector products whatever the number of outputs.

Intensity per bin: ``I = sum(valid * (raw - dark)) / sum(valid * flat * solid_angle *
polarization) / normalization``; its standard error ``sigma = sqrt(sum(valid * raw)) /
sum(valid * flat * solid_angle * polarization) / normalization`` (Poisson statistics of
the raw counts); ``count`` = valid pixels in the bin. Empty bins are NaN.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import math
import threading

import numpy as np
import scipy.sparse as sp

from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.geometry.gi import pixel_q
from gixs.io.frames import Frame
from gixs.results import Map2D, Profile, ReducedFrame

#: Default half-height of the in-plane cut band and half-width of the out-of-plane cut,
#: expressed as an exit angle (deg) so that it scales with the wavelength.
DEFAULT_BAND_DEG = 0.5


@dataclasses.dataclass(frozen=True)
class ReduceSettings:
    """What to compute from a frame (all q in 1/A, chi in deg).

    Parameters
    ----------
    npt_q : int
        Bins of the azimuthal I(|q|), the sectors and the 1D cuts.
    q_range : (float, float) or None
        |q| range of the 1D profiles; the detector's full range when None.
    npt_map : (int, int)
        Bins (q_xy, q_z) of the q_xy/q_z map.
    npt_chi : int
        chi bins of the (q, chi) map (chi from -180 to 180 deg).
    sectors : tuple of (float, float)
        chi ranges (deg; 0 = along the surface normal, 90 = in plane) for sector I(q).
    ip_band : (float, float) or None
        q_z band of the in-plane cut I(q_xy); default from the horizon up by
        ``k0 sin(DEFAULT_BAND_DEG)``.
    oop_band : (float, float) or None
        q_xy band of the out-of-plane cut I(q_z); default ``+-k0 sin(DEFAULT_BAND_DEG)/2``.
    solid_angle : bool
        Correct for the pixels' solid angle.
    polarization_factor : float or None
        pyFAI polarization factor (-1..1; 0.99 for a horizontally polarized synchrotron
        beam); None switches the correction off.
    maps : bool
        Compute the 2D maps ("qmap", "qchi").
    azimuthal : bool
        Compute the azimuthal I(|q|) ("iq") and the sectors.
    cuts : bool
        Compute the in-plane and out-of-plane cuts ("ip", "oop").
    """

    npt_q: int = 1000
    q_range: tuple | None = None
    npt_map: tuple = (500, 500)
    npt_chi: int = 360
    sectors: tuple = ()
    ip_band: tuple | None = None
    oop_band: tuple | None = None
    solid_angle: bool = True
    polarization_factor: float | None = 0.99
    maps: bool = True
    azimuthal: bool = True
    cuts: bool = True

    def __post_init__(self):
        if not (self.maps or self.azimuthal or self.cuts):
            raise ValueError("ReduceSettings: at least one of maps, azimuthal, cuts must be on")
        if int(self.npt_q) < 2:
            raise ValueError(f"npt_q must be >= 2 bins, got {self.npt_q}")
        if len(self.npt_map) != 2 or min(self.npt_map) < 2:
            raise ValueError(f"npt_map must be two bin counts >= 2, got {self.npt_map}")
        if self.polarization_factor is not None and not -1 <= self.polarization_factor <= 1:
            raise ValueError("polarization_factor must lie within -1..1, got "
                             f"{self.polarization_factor}")
        for name in ("q_range", "ip_band", "oop_band"):
            val = getattr(self, name)
            if val is not None and (len(val) != 2 or not val[0] < val[1]):
                raise ValueError(f"{name} must be (low, high) with low < high, got {val}")
        for sec in self.sectors:
            if len(sec) != 2 or not sec[0] < sec[1]:
                raise ValueError(f"sectors must be (chi_low_deg, chi_high_deg), got {sec}")


@dataclasses.dataclass
class _Block:
    kind: str        # "profile" or "map"
    name: str
    axes: tuple      # axis kinds
    centres: tuple   # bin centres per axis
    rows: slice      # rows of the big matrix
    band: dict


class Plan:
    """The pixel-to-bin matrix and per-pixel factors of one geometry (cached).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_bins, n_pixels)
        1 where a pixel falls in a bin.
    columns : ndarray of int
        The pixels (flat indices) that fall in at least one bin; the frame is gathered
        on these before the products, so unused pixels cost nothing.
    norm : ndarray, float64
        Per-pixel solid angle x polarization factor.
    static_valid : ndarray, bool
        Pixels not masked by the user or the detector.
    """

    def __init__(self, geometry: DetectorGeometry, gi: GIGeometry, shape, settings,
                 mask=None):
        self.geometry = geometry.for_image_shape(shape)
        self.gi = gi
        self.shape = tuple(shape)
        self.settings = settings
        ai = self.geometry.make_integrator()
        self.pq = pixel_q(self.geometry, gi, ai=ai)
        norm = np.ones(self.shape)
        if settings.solid_angle:
            norm *= ai.solidAngleArray(self.shape)
        if settings.polarization_factor is not None:
            norm *= ai.polarization(self.shape, factor=settings.polarization_factor)
        valid = np.ones(self.shape, bool)
        det_mask = ai.detector.mask
        if det_mask is not None and det_mask.shape == self.shape:
            valid &= det_mask == 0
        if mask is not None:
            valid &= ~np.asarray(mask, bool)
        self.static_valid = valid
        self.norm = norm.ravel()
        self.k0 = 2 * math.pi / self.geometry.wavelength_a
        self.blocks = []
        self._parts = []
        self._nrows = 0
        self._build()
        self.matrix = sp.vstack(self._parts, format="csr", dtype=np.float64)
        del self._parts
        self.columns = np.unique(self.matrix.indices).astype(np.intp)
        self._compact = self.matrix[:, self.columns].tocsr()
        self._norm_c = self.norm[self.columns]
        self._valid_c = self.static_valid.ravel()[self.columns]

    # -- building ---------------------------------------------------------------------
    def _add(self, kind, name, axes, coords, ranges, npts, select, band):
        """Add a block binning pixels where ``select`` by ``coords`` on regular bins."""
        sel = (select & self.static_valid).ravel()
        for c in coords:
            sel &= np.isfinite(c.ravel())
        idx = np.flatnonzero(sel)
        flat_bin = np.zeros(idx.size, np.int64)
        keep = np.ones(idx.size, bool)
        centres = []
        stride = 1
        for c, (lo, hi), n in reversed(list(zip(coords, ranges, npts))):
            vals = c.ravel()[idx].astype(np.float64)
            width = (hi - lo) / n
            b = np.floor((vals - lo) / width).astype(np.int64)
            keep &= (b >= 0) & (b < n)
            flat_bin += np.clip(b, 0, n - 1) * stride
            stride *= n
            centres.insert(0, lo + width * (np.arange(n) + 0.5))
        nbins = int(np.prod(npts))
        mat = sp.csr_matrix((np.ones(int(keep.sum())), (flat_bin[keep], idx[keep])),
                            shape=(nbins, sel.size))
        self._parts.append(mat)
        self.blocks.append(_Block(kind, name, axes, tuple(centres),
                                  slice(self._nrows, self._nrows + nbins), band))
        self._nrows += nbins

    def _range(self, arr, select=None, default=None):
        sel = self.static_valid if select is None else self.static_valid & select
        vals = arr[sel & np.isfinite(arr)]
        if vals.size == 0:
            if default is not None:
                return default
            raise ValueError("no valid pixel in the selection")
        lo, hi = float(vals.min()), float(vals.max())
        pad = (hi - lo) * 1e-6 + 1e-9
        return lo, hi + pad

    def _build(self):
        s, pq = self.settings, self.pq
        everywhere = np.ones(self.shape, bool)
        q_range = s.q_range or self._range(pq.q)
        chi_deg = np.degrees(pq.chi)
        if s.azimuthal:
            self._add("profile", "iq", ("q",), (pq.q,), (q_range,), (s.npt_q,), everywhere,
                      {"chi_deg": [-180.0, 180.0]})
        for lo, hi in (s.sectors if s.azimuthal else ()):
            sel = (chi_deg >= lo) & (chi_deg < hi)
            self._add("profile", f"sector_{lo:g}_{hi:g}", ("q",), (pq.q,), (q_range,),
                      (s.npt_q,), sel, {"chi_deg": [float(lo), float(hi)]})
        w = self.k0 * math.sin(math.radians(DEFAULT_BAND_DEG))
        qz_h = self.k0 * math.sin(self.gi.incidence)  # q_z of the horizon (a_f = 0)
        ip_band = s.ip_band or (qz_h, qz_h + w)
        oop_band = s.oop_band or (-w / 2, w / 2)
        if s.cuts:
            sel = (pq.qz >= ip_band[0]) & (pq.qz < ip_band[1])
            self._add("profile", "ip", ("qxy",), (pq.qxy,),
                      (self._range(pq.qxy, sel, (-1.0, 1.0)),), (s.npt_q,), sel,
                      {"qz_A^-1": [float(ip_band[0]), float(ip_band[1])]})
            sel = (pq.qxy >= oop_band[0]) & (pq.qxy < oop_band[1])
            self._add("profile", "oop", ("qz",), (pq.qz,),
                      (self._range(pq.qz, sel, (0.0, 1.0)),), (s.npt_q,), sel,
                      {"qxy_A^-1": [float(oop_band[0]), float(oop_band[1])]})
        if s.maps:
            self._add("map", "qmap", ("qxy", "qz"), (pq.qxy, pq.qz),
                      (self._range(pq.qxy), self._range(pq.qz)), tuple(s.npt_map),
                      everywhere, {})
            self._add("map", "qchi", ("q", "chi"), (pq.q, chi_deg),
                      (q_range, (-180.0, 180.0)), (s.npt_q // 2, s.npt_chi), everywhere, {})

    # -- applying ---------------------------------------------------------------------
    def sums(self, data, invalid=None, dark=None, flat=None):
        """The four per-bin sums (signal, norm, variance, count) of one frame.

        Only the pixels that fall in some bin are read (gathered once into a compact
        vector); the four products share one pass over the sparse matrix.
        """
        cols = self.columns
        raw = np.asarray(data).ravel()[cols].astype(np.float64)
        valid = self._valid_c & np.isfinite(raw)
        if invalid is not None:
            valid &= ~np.asarray(invalid).ravel()[cols]
        v = np.empty((cols.size, 4))
        np.multiply(raw, valid, out=v[:, 2], where=valid)
        v[~valid, 2] = 0.0
        v[:, 0] = v[:, 2]
        if dark is not None:
            v[:, 0] -= np.asarray(dark).ravel()[cols] * valid
        np.multiply(self._norm_c, valid, out=v[:, 1])
        if flat is not None:
            v[:, 1] *= np.asarray(flat, np.float64).ravel()[cols]
        np.clip(v[:, 2], 0, None, out=v[:, 2])
        v[:, 3] = valid
        out = self._compact @ v
        return out[:, 0], out[:, 1], out[:, 2], out[:, 3]

    def unpack(self, signal, norm, variance, count, normalization=1.0):
        """Turn per-bin sums into :class:`Profile` and :class:`Map2D` objects."""
        with np.errstate(invalid="ignore", divide="ignore"):
            empty = (count <= 0) | (norm <= 0)
            inten = np.where(empty, np.nan, signal / norm / normalization)
            sigma = np.where(empty, np.nan, np.sqrt(variance) / norm / normalization)
        profiles, maps = {}, {}
        for b in self.blocks:
            r = b.rows
            if b.kind == "profile":
                profiles[b.name] = Profile(b.name, b.axes[0], b.centres[0], inten[r],
                                           sigma[r], count[r].astype(np.int64), dict(b.band))
            else:
                shape = (len(b.centres[0]), len(b.centres[1]))
                maps[b.name] = Map2D(b.name, b.axes[0], b.axes[1], b.centres[0], b.centres[1],
                                     inten[r].reshape(shape).T.copy(),
                                     count[r].reshape(shape).T.astype(np.int64))
        return profiles, maps


_CACHE: "collections.OrderedDict[tuple, Plan]" = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def _digest(arr):
    if arr is None:
        return None
    arr = np.ascontiguousarray(arr)
    return hashlib.sha1(arr.view(np.uint8)).hexdigest() + str(arr.shape)


def get_plan(geometry, gi, shape, settings=None, mask=None) -> Plan:
    """The cached :class:`Plan` for this geometry, image shape, settings and mask."""
    settings = settings or ReduceSettings()
    key = (geometry, gi, tuple(shape), settings,
           _digest(None if mask is None else np.asarray(mask, bool)))
    with _CACHE_LOCK:
        plan = _CACHE.get(key)
        if plan is not None:
            _CACHE.move_to_end(key)
            return plan
    plan = Plan(geometry, gi, shape, settings, mask)
    with _CACHE_LOCK:
        _CACHE[key] = plan
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return plan


def reduce_frame(frame, geometry: DetectorGeometry, gi: GIGeometry, settings=None, *,
                 mask=None, dark=None, flat=None, normalization: float = 1.0,
                 source: str | None = None, index: int = 0,
                 engine: str | None = None) -> ReducedFrame:
    """Reduce one frame to GI profiles and maps.

    Parameters
    ----------
    frame : Frame or ndarray
        The image (counts). A :class:`gixs.io.frames.Frame` brings its invalid pixels and origin.
    geometry : DetectorGeometry
        Detector geometry (PONI).
    gi : GIGeometry
        Incidence, tilt, sample orientation, critical angle.
    settings : ReduceSettings, optional
        Bins, bands, sectors and corrections.
    mask : ndarray of bool, optional
        True = masked (beamstop, gaps, hot pixels), same shape as the frame.
    dark, flat : ndarray, optional
        Dark frame (subtracted) and flat field (divided), same shape as the frame.
    normalization : float
        Exposure time, monitor count or their product; intensities are divided by it.
    engine : {"gixs", "scipy", "pyfai"}, optional
        "gixs" (default, or the ``GIXS_ENGINE`` environment variable) applies the plan
        with the compiled kernels of :mod:`gixs.reduce.engine.block`; "scipy"/"pyfai" with scipy's
        sparse product. Both give the same sums (tested to 1e-6 relative).

    Returns
    -------
    ReducedFrame
        ``profiles`` ("iq", "ip", "oop", sectors), ``maps`` ("qmap", "qchi"), provenance.
    """
    settings = settings or ReduceSettings()
    if isinstance(frame, Frame):
        data, invalid = frame.data, frame.invalid
        source = source or frame.source
        index = frame.index
    else:
        data = np.asarray(frame)
        if data.ndim != 2:
            raise ValueError(f"frame must be a 2D image, got shape {data.shape}")
        invalid = ~np.isfinite(data)
    from gixs.io.validate import check_corrections, check_normalization

    normalization = check_normalization(normalization, name="normalization")
    mask, dark, flat = check_corrections(mask, dark, flat, data.shape)
    plan = get_plan(geometry, gi, data.shape, settings, mask)
    sums = _frame_sums(plan, data, invalid, dark, flat, engine)
    profiles, maps = plan.unpack(*sums, normalization=normalization)
    prov = provenance(plan.geometry, gi, settings, source=source, index=index,
                      dark=dark is not None, flat=flat is not None, mask=mask is not None,
                      normalization=normalization)
    return ReducedFrame(profiles=profiles, maps=maps, provenance=prov)


def _frame_sums(plan, data, invalid, dark, flat, engine):
    """One frame's per-bin sums, through the compiled kernel unless told otherwise."""
    from gixs.reduce.engine import block as engines

    name = engine or engines.default_engine()
    if name not in engines.ENGINES:
        raise ValueError(f"engine must be one of {engines.ENGINES}, got {name!r}")
    if name != "gixs" or dark is not None or flat is not None:
        return plan.sums(data, invalid, dark, flat)
    kern = engines.kernel_for_plan(plan, negative_invalid=False)
    block = kern.sums_block(data[None], None if invalid is None else invalid[None])
    return tuple(np.array(a[0]) for a in block)


def provenance(geometry, gi, settings, *, source=None, index=0, dark=False, flat=False,
               mask=False, normalization=1.0) -> dict:
    """What made a result: input, geometry, settings, corrections and versions."""
    import pyFAI

    from gixs._version import __version__

    geo = dataclasses.asdict(geometry)
    return {
        "source": source or "",
        "frame": int(index),
        "geometry": geo,
        "grazing_incidence": gi.as_dict(),
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in dataclasses.asdict(settings).items()},
        "corrections": {
            "solid_angle": settings.solid_angle,
            "polarization_factor": settings.polarization_factor,
            "dark_subtracted": dark, "flat_field": flat, "user_mask": mask,
            "normalization": float(normalization),
            "refraction_critical_angle_deg": gi.as_dict()["critical_angle_deg"],
        },
        "versions": {"gixs": __version__, "pyFAI": pyFAI.version, "numpy": np.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "units": {"q": "A^-1", "chi": "deg", "intensity": "counts/sr-normalized (a.u.)"},
    }
