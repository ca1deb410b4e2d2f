"""Corrections and reduction of one frame to profiles and maps.

Pixel positions, solid angles and polarization factors follow pyFAI's formulas
(:meth:`gixs.geometry.model.DetectorGeometry.lab_positions`, computed with numpy); gixs bins
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


#: Blocks whose bin range ``ReduceSettings.bin_ranges`` can fix.
BIN_RANGE_NAMES = ("iq", "ip", "oop", "qmap")


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
    bin_ranges : tuple of (name, lo, hi[, lo2, hi2])
        Fixed bin ranges instead of the ones the pixels span: ``("iq", lo, hi)`` for
        I(|q|), the sectors and the q axis of the (q, chi) map, ``("ip", lo, hi)`` and
        ``("oop", lo, hi)`` for the cuts, ``("qmap", qxy_lo, qxy_hi, qz_lo, qz_hi)``;
        so that several geometries bin alike (:mod:`gixs.reduce.multi`).

    Examples
    --------
    >>> s = ReduceSettings(npt_q=200, sectors=((-10.0, 10.0),))
    >>> s.npt_q, s.npt_map, s.polarization_factor
    (200, (500, 500), 0.99)
    >>> ReduceSettings(q_range=(2.0, 1.0))
    Traceback (most recent call last):
    ...
    ValueError: q_range must be (low, high) with low < high, got (2.0, 1.0)
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
    bin_ranges: tuple = ()

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
        for r in self.bin_ranges:
            if r[0] not in BIN_RANGE_NAMES or len(r) != (5 if r[0] == "qmap" else 3) or \
                    not all(lo < hi for lo, hi in zip(r[1::2], r[2::2])):
                raise ValueError(f"bin_ranges: expected (name, lo, hi) with name in "
                                 f"{', '.join(BIN_RANGE_NAMES)} (qmap: two ranges) and lo < "
                                 f"hi, got {r!r}")
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

    Built by direct CSR construction (:mod:`gixs.reduce.binning`: each block is a counting
    sort of its pixels by bin). :func:`get_plan` keeps plans in memory and on disk
    (:mod:`gixs.reduce.cache`).

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_bins + 1,)
        CSR row pointer of the (bins x pixels) matrix of unit weights.
    indices : ndarray of int32
        CSR column indices (flat pixel indices), sorted within each row.
    matrix : scipy.sparse.csr_matrix, shape (n_bins, n_pixels)
        The same matrix as scipy's float64 CSR (made on first use).
    columns : ndarray of int
        The pixels (flat indices) that fall in at least one bin.
    norm : ndarray, float64
        Per-pixel solid angle x polarization factor (flat).
    static_valid : ndarray, bool
        Pixels not masked by the user or the detector (image shape).
    below_horizon : ndarray, bool
        Pixels whose exit angle is negative (below the sample horizon), image shape.
    pq : gixs.geometry.gi.PixelQ
        Scattering coordinates of every pixel (recomputed on first use for a plan loaded
        from the disk cache).

    Examples
    --------
    A 64x128 generic detector (0.1 mm pixels at 0.2 m, 1 A): every pixel falls in one
    I(|q|) bin, and a flat frame of 2 counts gives I = 2 near the beam, where the solid
    angle and polarization factors are 1:

    >>> import json
    >>> geo = DetectorGeometry(0.2, 0.001, 0.006, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                        json.dumps({"pixel1": 1e-4, "pixel2": 1e-4,
    ...                                    "max_shape": [64, 128]}))
    >>> s = ReduceSettings(npt_q=50, npt_map=(20, 20), npt_chi=36)
    >>> plan = Plan(geo, GIGeometry.from_degrees(0.2), (64, 128), s)
    >>> [b.name for b in plan.blocks], plan.matrix.shape
    (['iq', 'ip', 'oop', 'qmap', 'qchi'], (1450, 8192))
    >>> profiles, maps = plan.unpack(*plan.sums(np.full((64, 128), 2.0)))
    >>> int(profiles["iq"].count.sum()), round(float(profiles["iq"].intensity[0]), 4)
    (8192, 2.0)
    """

    def __init__(self, geometry: DetectorGeometry, gi: GIGeometry, shape, settings,
                 mask=None, *, keep_pixel_q=True):
        self.geometry = geometry.for_image_shape(shape)
        self.gi = gi
        self.shape = tuple(int(s) for s in shape)
        self.settings = settings
        geo = self.geometry
        # the pixel positions once, for the q coordinates and the polarization factor
        pos = geo.lab_positions() if (settings.polarization_factor is not None or
                                      (geo, gi) not in _PQ_CACHE) else None
        # a plan that releases its pixel coordinates once built (one frame) computes only
        # the arrays its binning reads, for itself, unless the setup's are already shared
        self._own_pq = not keep_pixel_q and (geo, gi) not in _PQ_CACHE
        # the corrections first: their image-size temporaries are gone before the q arrays
        norm = np.ones(self.shape)
        if settings.solid_angle:
            norm *= geo.solid_angle()
        if settings.polarization_factor is not None:
            norm *= geo.polarization(settings.polarization_factor, positions=pos)
        self._pq = (pixel_q(geo, gi, positions=pos, fields=_BUILD_FIELDS) if self._own_pq
                    else shared_pixel_q(geo, gi, positions=pos))
        del pos
        valid = np.ones(self.shape, bool)
        det_mask = None if geo.generic_detector() is not None else geo.make_detector().mask
        if det_mask is not None and det_mask.shape == self.shape:
            valid &= det_mask == 0
        if mask is not None:
            valid &= ~np.asarray(mask, bool)
        self.static_valid = valid
        self.norm = norm.ravel()
        self.below_horizon = self._pq.exit_angle < 0
        if self._own_pq:
            self._pq = dataclasses.replace(self._pq, exit_angle=None)
        self.k0 = 2 * math.pi / self.geometry.wavelength_a
        self.blocks = []
        self._ptrs, self._idx, self._bins = [], [], []
        self._nrows = 0
        self._build()
        if not keep_pixel_q:  # the binning is made: the CSC form needs the memory
            self.release_pixel_q()
        self._finish()
        del self._ptrs, self._idx, self._bins

    def _finish(self):
        """Join the blocks' CSR parts into one matrix; its CSC form from the blocks' bins."""
        from gixs.reduce import binning

        ptrs = self._ptrs
        offsets = np.cumsum([0] + [p[-1] for p in ptrs])
        self.indptr = np.concatenate([ptrs[0][:1]] + [p[1:] + o for p, o in zip(ptrs, offsets)])
        self.indices = np.concatenate(self._idx)
        rows0 = np.array([b.rows.start for b in self.blocks], np.int64)
        bins = np.empty((len(self._bins), self.shape[0] * self.shape[1]), np.int32)
        for i in range(len(self._bins)):  # each block's own array freed once copied
            bins[i] = self._bins[i]
            self._bins[i] = None
        self._bins.clear()
        self.col_ptr, self.col_rows = binning.csc_from_bins(bins, rows0)
        self._setup()

    def _setup(self):
        self.n_bins = self.indptr.size - 1
        self.n_pixels = int(np.prod(self.shape))
        self._columns = None
        self._matrix = self._compact = None
        self._kernels = {}
        self._kernel_state = None
        self._lock = threading.Lock()

    def __getstate__(self):  # pickled without its lock and derived caches
        state = dict(self.__dict__)
        for name in ("_lock", "_kernels", "_matrix", "_compact", "_kernel_state",
                     "_columns"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._matrix = self._compact = self._columns = None
        self._kernels = {}
        self._kernel_state = None
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict) -> "Plan":
        """Rebuild a plan from :meth:`to_arrays` output (the disk cache)."""
        self = cls.__new__(cls)
        self.geometry = DetectorGeometry(**meta["geometry"])
        self.gi = GIGeometry(**meta["gi"])
        self.shape = tuple(meta["shape"])
        self.settings = ReduceSettings(**{k: _untuple(k, v)
                                          for k, v in meta["settings"].items()})
        self.k0 = float(meta["k0"])
        self.blocks = [_Block(b["kind"], b["name"], tuple(b["axes"]),
                              tuple(np.asarray(arrays[f"centres_{i}_{a}"], np.float64)
                                    for a in range(len(b["axes"]))),
                              slice(*b["rows"]), dict(b["band"]))
                       for i, b in enumerate(meta["blocks"])]
        n = int(np.prod(self.shape))
        self.indptr = np.asarray(arrays["indptr"], np.int64)
        self.indices = np.asarray(arrays["indices"], np.int32)
        self.col_ptr = np.asarray(arrays["col_ptr"], np.int64)
        self.col_rows = np.asarray(arrays["col_rows"], np.int32)
        self.norm = np.asarray(arrays["norm"], np.float64)
        self.static_valid = np.unpackbits(arrays["static_valid"], count=n).astype(
            bool).reshape(self.shape)
        self.below_horizon = np.unpackbits(arrays["below_horizon"], count=n).astype(
            bool).reshape(self.shape)
        self._pq = None
        self._setup()
        kernel = {k[len("kernel_"):]: v for k, v in arrays.items() if k.startswith("kernel_")}
        if "kernel" in meta and kernel:
            self._kernel_state = (meta["kernel"], kernel)
        return self

    def to_arrays(self):
        """(meta, arrays) describing the plan completely (see :meth:`from_arrays`)."""
        meta = {"geometry": dataclasses.asdict(self.geometry),
                "gi": dataclasses.asdict(self.gi), "shape": list(self.shape),
                "settings": dataclasses.asdict(self.settings), "k0": self.k0,
                "blocks": [{"kind": b.kind, "name": b.name, "axes": list(b.axes),
                            "rows": [b.rows.start, b.rows.stop], "band": b.band}
                           for b in self.blocks]}
        arrays = {"indptr": self.indptr, "indices": self.indices, "col_ptr": self.col_ptr,
                  "col_rows": self.col_rows, "norm": self.norm,
                  "static_valid": np.packbits(self.static_valid.ravel()),
                  "below_horizon": np.packbits(self.below_horizon.ravel())}
        for i, b in enumerate(self.blocks):
            for a, c in enumerate(b.centres):
                arrays[f"centres_{i}_{a}"] = np.asarray(c, np.float64)
        with self._lock:
            kern = self._kernels.get((None, None))
        state = kern.state() if kern is not None else None
        if state is not None:  # the compiled kernel's own arrays (no dark, no flat)
            meta["kernel"] = state[0]
            arrays.update({f"kernel_{k}": v for k, v in state[1].items()})
        return meta, arrays

    @property
    def columns(self):
        """The pixels (flat indices, int64) that fall in at least one bin (made on first
        use: only the reference sums need it)."""
        if self._columns is None:
            self._columns = np.flatnonzero(np.diff(self.col_ptr) > 0)
        return self._columns

    def release_pixel_q(self) -> None:
        """Forget the pixel coordinates this plan keeps (and their shared copy): ~190 MB
        for 4 Mpx, which a one-frame reduction does not need once the binning is made
        (recomputed if :attr:`pq` is asked again)."""
        with _PQ_LOCK:
            _PQ_CACHE.pop((self.geometry, self.gi), None)
        self._pq = None

    @property
    def pq(self):
        """Pixel scattering coordinates (:func:`gixs.geometry.gi.pixel_q`)."""
        if self._pq is None:
            self._pq = shared_pixel_q(self.geometry, self.gi)
        return self._pq

    @property
    def matrix(self):
        """The (bins x pixels) matrix as a scipy float64 CSR matrix (unit weights)."""
        with self._lock:
            if self._matrix is None:
                self._matrix = sp.csr_matrix(
                    (np.ones(self.indices.size), self.indices, self.indptr),
                    shape=(self.n_bins, self.n_pixels))
            return self._matrix

    def kernel(self, dark=None, flat=None):
        """The compiled :class:`~gixs.reduce.engine.block.StackKernel` of this plan with
        ``dark`` and ``flat`` folded in, built once per (dark, flat) and kept on the plan."""
        from gixs.reduce.engine.block import StackKernel

        key = (_digest(dark), _digest(flat))
        with self._lock:
            kern = self._kernels.get(key)
        if kern is None and key == (None, None) and self._kernel_state is not None:
            meta, arrays = self._kernel_state
            self._kernel_state = None
            try:  # arrays of the disk cache: checked against the plan, else rebuilt
                kern = StackKernel.from_state(self, meta, arrays)
            except (ValueError, KeyError, TypeError):
                kern = None
        if kern is None:
            kern = StackKernel.from_plan(self, dark=dark, flat=flat, negative_invalid=False)
            with self._lock:
                while len(self._kernels) >= 2:
                    self._kernels.pop(next(iter(self._kernels)))
                kern = self._kernels.setdefault(key, kern)
        return kern

    # -- building ---------------------------------------------------------------------
    def _add(self, kind, name, axes, coords, ranges, npts, select, band):
        """Add a block binning pixels where ``select`` by ``coords`` on regular bins."""
        from gixs.reduce import binning

        indptr, indices, centres, bins = binning.block_csr(select & self.static_valid,
                                                           coords, ranges, npts)
        nbins = indptr.size - 1
        self._ptrs.append(indptr)
        self._idx.append(indices)
        self._bins.append(bins)
        self.blocks.append(_Block(kind, name, axes, centres,
                                  slice(self._nrows, self._nrows + nbins), band))
        self._nrows += nbins

    def _range(self, arr, select=None, default=None):
        from gixs.reduce import binning

        sel = self.static_valid if select is None else self.static_valid & select
        lo, hi, n = binning.finite_range(np.ascontiguousarray(arr, np.float64).ravel(),
                                         np.ascontiguousarray(sel).ravel())
        if n == 0:
            if default is not None:
                return default
            raise ValueError("no valid pixel in the selection")
        lo, hi = float(lo), float(hi)
        pad = (hi - lo) * 1e-6 + 1e-9
        return lo, hi + pad

    def _build(self):
        s, pq = self.settings, self._pq
        fixed = {r[0]: tuple(r[1:]) for r in s.bin_ranges}
        everywhere = np.ones(self.shape, bool)
        q_range = s.q_range or fixed.get("iq") or self._range(pq.q)
        # the plan's own coordinates are dropped after the build: chi in degrees in place
        chi_deg = np.degrees(pq.chi, out=pq.chi if self._own_pq else None)
        if s.azimuthal:
            self._add("profile", "iq", ("q",), (pq.q,), (q_range,), (s.npt_q,), everywhere,
                      {"chi_deg": [-180.0, 180.0]})
        for lo, hi in (s.sectors if s.azimuthal else ()):
            sel = (chi_deg >= lo) & (chi_deg < hi)
            self._add("profile", f"sector_{lo:g}_{hi:g}", ("q",), (pq.q,), (q_range,),
                      (s.npt_q,), sel, {"chi_deg": [float(lo), float(hi)]})
        if self._own_pq and not s.maps:  # |q| and chi are binned: their memory goes now
            self._pq = pq = dataclasses.replace(pq, q=None, chi=None)
            chi_deg = None
        w = self.k0 * math.sin(math.radians(DEFAULT_BAND_DEG))
        qz_h = self.k0 * math.sin(self.gi.incidence)  # q_z of the horizon (a_f = 0)
        ip_band = s.ip_band or (qz_h, qz_h + w)
        oop_band = s.oop_band or (-w / 2, w / 2)
        if s.cuts:
            sel = (pq.qz >= ip_band[0]) & (pq.qz < ip_band[1])
            self._add("profile", "ip", ("qxy",), (pq.qxy,),
                      (fixed.get("ip") or self._range(pq.qxy, sel, (-1.0, 1.0)),),
                      (s.npt_q,), sel,
                      {"qz_A^-1": [float(ip_band[0]), float(ip_band[1])]})
            sel = (pq.qxy >= oop_band[0]) & (pq.qxy < oop_band[1])
            self._add("profile", "oop", ("qz",), (pq.qz,),
                      (fixed.get("oop") or self._range(pq.qz, sel, (0.0, 1.0)),),
                      (s.npt_q,), sel,
                      {"qxy_A^-1": [float(oop_band[0]), float(oop_band[1])]})
        if s.maps:
            qmap = fixed.get("qmap")
            self._add("map", "qmap", ("qxy", "qz"), (pq.qxy, pq.qz),
                      (qmap[:2], qmap[2:]) if qmap else
                      (self._range(pq.qxy), self._range(pq.qz)), tuple(s.npt_map),
                      everywhere, {})
            if self._own_pq:  # q_xy and q_z are binned: their memory goes now
                self._pq = pq = dataclasses.replace(pq, qxy=None, qz=None)
            self._add("map", "qchi", ("q", "chi"), (pq.q, chi_deg),
                      (q_range, (-180.0, 180.0)), (s.npt_q // 2, s.npt_chi), everywhere, {})

    # -- applying ---------------------------------------------------------------------
    def sums(self, data, invalid=None, dark=None, flat=None):
        """The four per-bin sums (signal, norm, variance, count) of one frame, with scipy's
        sparse product: the reference that the compiled engine is tested against
        (``reduce_frame(..., engine="reference")``).
        """
        cols = self.columns
        with self._lock:
            if self._compact is None:
                pos = np.zeros(self.n_pixels, np.int64)
                pos[cols] = np.arange(cols.size)
                self._compact = sp.csr_matrix(
                    (np.ones(self.indices.size), pos[self.indices], self.indptr),
                    shape=(self.n_bins, cols.size))
        raw = np.asarray(data).ravel()[cols].astype(np.float64)
        valid = self.static_valid.ravel()[cols] & np.isfinite(raw)
        if invalid is not None:
            valid &= ~np.asarray(invalid).ravel()[cols]
        v = np.empty((cols.size, 4))
        np.multiply(raw, valid, out=v[:, 2], where=valid)
        v[~valid, 2] = 0.0
        v[:, 0] = v[:, 2]
        if dark is not None:
            v[:, 0] -= np.asarray(dark).ravel()[cols] * valid
        np.multiply(self.norm[cols], valid, out=v[:, 1])
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


_PQ_LOCK = threading.Lock()
_PQ_CACHE: dict = {}
#: Pixel-coordinate sets kept in memory (one per geometry and GI setting; 190 MB each
#: for a 4 Mpx frame), shared by every plan of that setup.
PQ_CACHE_SIZE = 2

#: The pixel coordinates a plan's binning reads (a one-frame plan computes only these).
_BUILD_FIELDS = ("qxy", "qz", "q", "chi", "exit_angle")


def shared_pixel_q(geometry, gi, positions=None):
    """:func:`gixs.geometry.gi.pixel_q` of ``geometry`` (already for the image shape) and
    ``gi``, computed once and shared, read-only, by every plan of that setup (plans that
    differ only in binning, bands or corrections: the superlattice metrics build several).
    ``positions``: the pixels' lab positions if the caller has them (not modified).
    """
    key = (geometry, gi)
    with _PQ_LOCK:
        pq = _PQ_CACHE.pop(key, None)
        if pq is not None:
            _PQ_CACHE[key] = pq  # most recently used last
            return pq
    pq = pixel_q(geometry, gi, positions=positions)
    for arr in (getattr(pq, f.name) for f in dataclasses.fields(pq)):
        arr.flags.writeable = False
    with _PQ_LOCK:
        pq = _PQ_CACHE.setdefault(key, pq)
        while len(_PQ_CACHE) > PQ_CACHE_SIZE:
            _PQ_CACHE.pop(next(iter(_PQ_CACHE)))
    return pq


def _untuple(key, value):
    """JSON lists back to the tuples of :class:`ReduceSettings`."""
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _digest(arr):
    if arr is None:
        return None
    arr = np.ascontiguousarray(arr)
    return hashlib.sha256(arr.view(np.uint8)).hexdigest() + str(arr.shape) + str(arr.dtype)


def get_plan(geometry, gi, shape, settings=None, mask=None, *,
             keep_pixel_q=True, store_in_background=False) -> Plan:
    """The :class:`Plan` for this geometry, image shape, settings and mask.

    Plans are kept in memory (this process) and on disk (:mod:`gixs.reduce.cache`, the
    user cache directory or ``GIXS_CACHE_DIR``), keyed by a content hash of everything
    they depend on; a plan is built only when neither has it.

    Parameters
    ----------
    geometry : DetectorGeometry
        Detector geometry (PONI).
    gi : GIGeometry
        Incidence, tilt, orientation, critical angle.
    shape : tuple of int
        Image shape (rows, columns).
    settings : ReduceSettings, optional
        Bins and corrections (default settings when omitted).
    mask : ndarray of bool, optional
        True = masked, image shape.
    keep_pixel_q : bool
        False: a plan built here forgets its pixel coordinates once its bins are
        made (:meth:`Plan.release_pixel_q`; a one-frame reduction's peak memory), as a
        loaded plan has none.
    store_in_background : bool
        A plan built here is written to the disk cache by a thread while the caller
        goes on (a one-frame command: its reduction and outputs overlap the write; see
        :func:`gixs.reduce.cache.wait_for_writes`).

    Examples
    --------
    >>> import json
    >>> geo = DetectorGeometry(0.2, 0.001, 0.006, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                        json.dumps({"pixel1": 1e-4, "pixel2": 1e-4}))
    >>> gi = GIGeometry.from_degrees(0.2)
    >>> s = ReduceSettings(npt_q=40, npt_map=(10, 10), npt_chi=18)
    >>> mask = np.zeros((32, 48), bool)
    >>> mask[:4] = True
    >>> plan = get_plan(geo, gi, (32, 48), s, mask)
    >>> plan is get_plan(geo, gi, (32, 48), s, mask), int(plan.static_valid.sum())
    (True, 1344)
    """
    from gixs.reduce import cache

    settings = settings or ReduceSettings()
    return cache.get_plan(geometry, gi, tuple(int(s) for s in shape), settings, mask,
                          plan_cls=Plan, keep_pixel_q=keep_pixel_q,
                          store_in_background=store_in_background)


#: Reduction engines: the compiled block kernel, or scipy's sparse products (the test
#: reference, chosen explicitly, never as a fallback).
ENGINES = ("gixs", "reference")


def reduce_frames(frames, geometry: DetectorGeometry, gi: GIGeometry, settings=None, *,
                  mask=None, dark=None, flat=None, normalization=1.0, sources=None,
                  indices=None, block: int = 8, engine: str = "gixs", plan=None):
    """Reduce frames of one geometry to GI profiles and maps, a block at a time.

    The one reduction path of gixs: :func:`reduce_frame`, ``gixs batch``, ``gixs
    spacing`` and :func:`gixs.superlattice.ordering.measure_frame` all come here.

    Parameters
    ----------
    frames : iterable of Frame or ndarray, or ndarray (n, rows, cols)
        Images (counts) of one shape. A :class:`gixs.io.frames.Frame` brings its invalid
        pixels (the reader's valid-pixel rule) and origin; a bare array counts its
        non-finite pixels as invalid.
    geometry, gi, settings, mask, dark, flat
        As :func:`reduce_frame`.
    normalization : float or sequence of float
        Per-frame divisor (exposure time, monitor, ...); one number for all frames.
    sources, indices : sequence, optional
        Per-frame source name and frame number for the provenance (default: the Frame's).
    block : int
        Frames per pass of the compiled kernel.
    engine : {"gixs", "reference"}
        "gixs": the compiled block kernel (:mod:`gixs.reduce.engine.block`);
        "reference": scipy's sparse products (:meth:`Plan.sums`), kept as the test
        reference only.
    plan : Plan, optional
        A plan already obtained with :func:`get_plan` for these arguments.

    Yields
    ------
    ReducedFrame
        One per input frame, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from gixs import GIGeometry, ReduceSettings
    >>> from gixs.geometry.model import DetectorGeometry
    >>> from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    >>> from pyFAI.detectors import Detector
    >>> ai = AzimuthalIntegrator(dist=0.2, poni1=0.001, poni2=0.006, wavelength=1e-10,
    ...                          detector=Detector(1e-4, 1e-4, max_shape=(64, 128)))
    >>> geo = DetectorGeometry.from_integrator(ai)
    >>> s = ReduceSettings(npt_q=50, npt_map=(20, 20), npt_chi=36)
    >>> frames = np.ones((3, 64, 128), np.float32)
    >>> out = list(reduce_frames(frames, geo, GIGeometry.from_degrees(0.2), s))
    >>> len(out), out[0].profiles["iq"].intensity.shape
    (3, (50,))
    """
    settings = settings or ReduceSettings()
    engine = str(engine).lower()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    block = int(block)
    if block < 1:
        raise ValueError(f"block must be >= 1 frame, got {block}")
    items = iter(frames if not (isinstance(frames, np.ndarray) and frames.ndim == 2)
                 else [frames])
    norms = None if np.ndim(normalization) == 0 else list(normalization)
    pos = 0
    while True:
        chunk = []
        for item in items:
            chunk.append(_as_frame(item))
            if len(chunk) >= block:
                break
        if not chunk:
            return
        data0 = chunk[0][0]
        if plan is None:
            from gixs.io.validate import check_corrections

            mask, dark, flat = check_corrections(mask, dark, flat, data0.shape)
            plan = get_plan(geometry, gi, data0.shape, settings, mask)
        for i, (data, _, _, _) in enumerate(chunk):
            if data.shape != plan.shape:
                raise ValueError(f"frame {pos + i} has shape {data.shape}, expected "
                                 f"{plan.shape} like the first frame")
        if engine == "reference":
            sums = [plan.sums(d, inv, dark, flat) for d, inv, _, _ in chunk]
        else:
            kern = plan.kernel(dark, flat)
            stack = np.stack([d for d, _, _, _ in chunk]) if len(chunk) > 1 else \
                chunk[0][0][None]
            invalid = None
            if any(inv is not None for _, inv, _, _ in chunk):
                invalid = np.stack([np.zeros(plan.shape, bool) if inv is None else inv
                                    for _, inv, _, _ in chunk])
            s, n, v, c = kern.sums_block(stack, invalid)
            sums = [(s[i], n[i], v[i], c[i]) for i in range(len(chunk))]
        for i, ((_, _, src, idx), fsums) in enumerate(zip(chunk, sums)):
            k = pos + i
            norm = float(normalization if norms is None else norms[k])
            if not (np.isfinite(norm) and norm > 0):
                raise ValueError(f"normalization must be a positive number, got {norm!r}"
                                 + ("" if norms is None else f" (frame {k})"))
            profiles, maps = plan.unpack(*fsums, normalization=norm)
            prov = provenance(plan.geometry, gi, settings,
                              source=sources[k] if sources is not None else src,
                              index=indices[k] if indices is not None else idx,
                              dark=dark is not None, flat=flat is not None,
                              mask=mask is not None, normalization=norm)
            yield ReducedFrame(profiles=profiles, maps=maps, provenance=prov)
        pos += len(chunk)


def _as_frame(item):
    """(data, invalid or None, source, index) of a Frame or a bare 2D array."""
    if isinstance(item, Frame):
        return np.asarray(item.data), item.invalid, item.source, item.index
    data = np.asarray(item)
    if data.ndim != 2:
        raise ValueError(f"frame must be a 2D image, got shape {data.shape}")
    invalid = None
    if np.issubdtype(data.dtype, np.floating):
        invalid = ~np.isfinite(data)
        if not invalid.any():
            invalid = None
    return data, invalid, None, 0


def reduce_frame(frame, geometry: DetectorGeometry, gi: GIGeometry, settings=None, *,
                 mask=None, dark=None, flat=None, normalization: float = 1.0,
                 source: str | None = None, index: int | None = None,
                 engine: str = "gixs", plan=None) -> ReducedFrame:
    """Reduce one frame to GI profiles and maps (:func:`reduce_frames` of one frame).

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
    engine : {"gixs", "reference"}
        "gixs" (default): the compiled kernels of :mod:`gixs.reduce.engine.block`;
        "reference": scipy's sparse products, the test reference. Both give the same
        sums (tested to 1e-9 relative).
    plan : Plan, optional
        The plan :func:`get_plan` gives for these arguments, if the caller has it (then
        ``mask``, ``dark`` and ``flat`` must be those :func:`gixs.io.validate.check_corrections`
        returned, as it is not called again).

    Returns
    -------
    ReducedFrame
        ``profiles`` ("iq", "ip", "oop", sectors), ``maps`` ("qmap", "qchi"), provenance.

    Examples
    --------
    >>> import numpy as np
    >>> from gixs import GIGeometry, ReduceSettings
    >>> from gixs.geometry.model import DetectorGeometry
    >>> from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    >>> from pyFAI.detectors import Detector
    >>> ai = AzimuthalIntegrator(dist=0.2, poni1=0.001, poni2=0.006, wavelength=1e-10,
    ...                          detector=Detector(1e-4, 1e-4, max_shape=(64, 128)))
    >>> geo = DetectorGeometry.from_integrator(ai)
    >>> s = ReduceSettings(npt_q=50, npt_map=(20, 20), npt_chi=36)
    >>> r = reduce_frame(np.ones((64, 128)), geo, GIGeometry.from_degrees(0.2), s)
    >>> sorted(r.profiles), sorted(r.maps)
    (['ip', 'iq', 'oop'], ['qchi', 'qmap'])
    """
    from gixs.io.validate import check_normalization

    normalization = check_normalization(normalization, name="normalization")
    fr = _as_frame(frame)
    return next(reduce_frames([frame], geometry, gi, settings, mask=mask, dark=dark,
                              flat=flat, normalization=normalization,
                              sources=[source or fr[2]],
                              indices=[fr[3] if index is None else index], engine=engine,
                              plan=plan))


def provenance(geometry, gi, settings, *, source=None, index=0, dark=False, flat=False,
               mask=False, normalization=1.0) -> dict:
    """What made a result: input, geometry, settings, corrections and versions.

    Parameters
    ----------
    geometry : DetectorGeometry
        Detector geometry used.
    gi : GIGeometry
        Grazing-incidence settings used.
    settings : ReduceSettings
        Reduction settings used.
    source : str, optional
        Input file.
    index : int
        Frame number in ``source``.
    dark, flat, mask : bool
        Whether a dark, flat field or user mask was applied.
    normalization : float
        Divisor applied to the intensities (exposure time in s, monitor...).

    Returns
    -------
    dict
        JSON-ready record (angles in deg, q in 1/A, creation time in UTC).

    Examples
    --------
    >>> import json
    >>> geo = DetectorGeometry(0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                        json.dumps({"pixel1": 1e-4, "pixel2": 1e-4}))
    >>> p = provenance(geo, GIGeometry.from_degrees(0.15), ReduceSettings(npt_q=100),
    ...                source="run.tif", dark=True, normalization=2.0)
    >>> p["source"], p["settings"]["npt_q"], p["grazing_incidence"]["incidence_deg"]
    ('run.tif', 100, 0.15)
    >>> p["corrections"]["dark_subtracted"], p["corrections"]["normalization"]
    (True, 2.0)
    >>> p["units"]["q"]
    'A^-1'
    """

    from importlib.metadata import version

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
        "versions": {"gixs": __version__, "pyFAI": version("pyFAI"), "numpy": np.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "units": {"q": "A^-1", "chi": "deg", "intensity": "counts/sr-normalized (a.u.)"},
    }
