"""A throughput engine for stacks of frames: one sparse matrix, many frames per pass.

For a fixed geometry every output (azimuthal I(q), sectors, GI cuts, q_xy/q_z map) is a
linear map from pixels to bins. :class:`StackKernel` holds that map as a CSR matrix
(bins x pixels) with the per-pixel corrections folded in once (static mask, solid angle x
polarization x flat, dark), and applies it to blocks of frames with a Numba kernel
(:mod:`gixs.reduce.engine.kernels`, :mod:`gixs.reduce.engine.scatter`) that reads the
matrix once per block and each frame once, on all cores, without copying the frames.

Per frame ``f`` and bin ``b`` it returns the same four sums as
:meth:`gixs.reduce.frame.Plan.sums` (and pyFAI's CSR engines):

- ``signal[f, b] = sum_j w_bj (x_fj - dark_j)`` over valid pixels ``j``,
- ``norm[f, b] = sum_j w_bj flat_j solid_angle_j polarization_j`` over valid pixels,
- ``variance[f, b] = sum_j w_bj^2 (max(x_fj, floor) [+ dark_j])`` (floor 0 for gixs's
  Poisson model on the raw counts, 1 and ``+ dark`` for pyFAI's ``error_model="poisson"``),
- ``count[f, b] = sum_j w_bj`` over valid pixels,

so ``I = signal / norm`` and ``sigma = sqrt(variance) / norm``. A pixel is valid when it
is not statically masked, is finite, is not negative (``negative_invalid``), is not the
integer saturation value (integer frames), and is not flagged in the optional per-frame
``invalid`` mask. All sums are accumulated in float64.

Matrices come from gixs's own :class:`~gixs.reduce.frame.Plan` (:meth:`StackKernel.from_plan`,
no pixel splitting) or from pyFAI (:func:`azimuthal_kernel`, pyFAI's own bbox-split CSR, so
results equal ``AzimuthalIntegrator.integrate1d``'s default; those exporters exist to
check the engine against pyFAI, not as a production path). :func:`reduce_stack_sums`
groups any iterable of frames into blocks and yields per-frame sums of a kernel.
A plan's own kernel is :meth:`gixs.reduce.frame.Plan.kernel` (kept on the plan, so one
cache holds both); frames of a plan are reduced by :func:`gixs.reduce.frame.reduce_frames`.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from gixs.reduce.engine import kernels as _k
from gixs.reduce.engine import scatter as _scatter

#: Non-zeros per parallel tile of rows in the gather kernel (about 0.5 MB of matrix).
TILE_NNZ = 65536

#: Largest output (bins) computed pixel-major; per-thread accumulators are 128 B a bin.
SCATTER_MAX_BINS = 32768

#: Bins along a map's fast axis processed together by the gather kernel.
MAP_BLOCK = 64


def kernel_frames(frames):
    """Frames as the kernels take them: C-contiguous float32 or float64, same values.

    The kernels read every pixel as float64, so a conversion that keeps each value
    leaves the sums unchanged: float32 and float64 frames are passed as they are (no
    copy when C-contiguous); bool, float16 and integers of up to 16 bits become float32,
    wider integers float64 (exact up to 2**53, which is all 32-bit values). Two frame
    dtypes compile instead of one per input dtype (each costs seconds on first use).

    Examples
    --------
    >>> kernel_frames(np.array([[1, 65535]], np.uint16)).dtype.name
    'float32'
    >>> kernel_frames(np.array([[2**32 - 1]], np.uint32)).tolist()
    [[4294967295.0]]
    """
    frames = np.asarray(frames)
    if frames.dtype.kind not in "iufb":
        raise TypeError(f"frames must be a numeric array, got dtype {frames.dtype}")
    if frames.dtype not in (np.float32, np.float64):
        return frames.astype(np.float32 if frames.dtype.itemsize <= 2 else np.float64,
                             order="C")
    return np.ascontiguousarray(frames)


def _binned_pixels_valid(plan):
    """True when every pixel that ``plan`` puts in a bin may count (statically valid, with
    a finite normalisation): its kernel then needs no pass over the matrix to drop any."""
    binned = plan.col_ptr[1:] > plan.col_ptr[:-1]
    ok = plan.static_valid.ravel() & np.isfinite(plan.norm)
    return not binned[~ok].any()


def part_groups(row_blocks, n_bins):
    """(r0, r1, kind, grid) of a kernel's parts: neighbouring outputs of at most
    ``SCATTER_MAX_BINS`` bins together are one "scatter" part, each larger output (a map)
    a "gather" part; ``grid`` is the map's (n_slow, n_fast) when given, else None."""
    row_blocks = list(row_blocks or ())
    shapes = {(int(b[0]), int(b[1])): tuple(b[2]) for b in row_blocks if len(b) > 2}
    edges = sorted({0, n_bins, *(int(e) for blk in row_blocks for e in blk[:2])})
    spans = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    groups = []
    for a, b in spans:
        big = b - a > SCATTER_MAX_BINS
        if groups and not big and groups[-1][2] == "scatter" and \
                b - groups[-1][0] <= SCATTER_MAX_BINS:
            groups[-1][1] = b
        else:
            groups.append([a, b, "gather" if big else "scatter"])
    return [(a, b, kind, shapes.get((a, b))) for a, b, kind in groups]


def scatter_csc(csc, r0, r1):
    """CSC form (col_ptr, col_rows) of rows ``r0:r1`` of a unit-weight CSC matrix, the
    pointers int32 when they fit."""
    col_ptr = np.empty(csc[0].size, np.int32 if csc[1].size < 2**31 else np.int64)
    return col_ptr, _k.csc_row_slice(*csc, r0, r1, col_ptr)


def gather_order(row_nnz, grid):
    """(order, tiles) of a gather part whose rows hold ``row_nnz`` pixels: non-empty rows
    in processing order (maps: blocks of ``MAP_BLOCK`` bins along the fast axis, then the
    slow axis, so neighbouring bins see neighbouring pixels, ~25 % faster, measured) and
    the boundaries of the parallel tiles in that order."""
    order = np.arange(row_nnz.size, dtype=np.int64)
    if grid is not None and len(grid) == 2 and grid[1] > MAP_BLOCK:
        slow, fast = np.divmod(order, grid[1])
        order = order[np.lexsort((fast, slow, fast // MAP_BLOCK))]
    order = order[row_nnz[order] > 0]
    return order, _k.tile_bounds(row_nnz[order], TILE_NNZ)


class StackKernel:
    """A pixel-to-bin matrix with its corrections folded in, applied to blocks of frames.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_bins, n_pixels)
        Weights ``w_bj`` of pixel ``j`` in bin ``b`` (1 without pixel splitting, pixel
        fractions with splitting).
    norm : ndarray, shape (n_pixels,) or image shape, optional
        Per-pixel normalisation (solid angle x polarization); 1 when None.
    static_valid : ndarray of bool, optional
        Pixels that may count at all (False = masked: detector gaps, beamstop).
    dark, flat : ndarray, optional
        Dark frame (subtracted from every frame) and flat field (multiplies ``norm``).
    variance_floor : float
        Per-pixel variance is ``max(x, variance_floor)``: 0 reproduces gixs's model,
        1 pyFAI's ``error_model="poisson"``.
    dark_variance : bool
        Add the dark to the variance (pyFAI's Poisson model with a dark).
    negative_invalid : bool
        Treat negative pixel values as invalid (gixs.io.frames's convention for detector dummies).
    shape : tuple, optional
        Image shape (rows, cols); checked against the frames when given.
    row_blocks : sequence of (start, stop) or (start, stop, (n_slow, n_fast)), optional
        Row ranges of separate outputs (e.g. a plan's profiles and maps; a map's rows are
        ``i_slow * n_fast + i_fast``). Outputs of at
        most ``SCATTER_MAX_BINS`` bins are computed pixel-major (frames streamed in memory
        order, scattered into per-thread bin accumulators); larger ones (maps) bin-major
        (each bin gathers its pixels; threads own bins).

    Attributes
    ----------
    n_bins, n_pixels : int
    norm_sum, count_sum : ndarray, float64 (n_bins,)
        Normalisation and count of each bin when every statically valid pixel is valid.
    centres : ndarray or None
        Bin centres (set by the exporters, in ``unit``).

    Examples
    --------
    Two bins of two pixels each, the second pair with twice the solid angle; a
    negative pixel (a detector dummy) is left out of its bin:

    >>> k = StackKernel(np.array([[1.0, 1, 0, 0], [0, 0, 1, 1]]), norm=[1, 1, 2, 2],
    ...                 shape=(2, 2))
    >>> k.n_bins, k.n_pixels, k.norm_sum.tolist()
    (2, 4, [2.0, 4.0])
    >>> sig, norm, var, count = k.sums_block(np.array([[[1.0, 3], [4, 8]],
    ...                                                 [[2.0, -1], [4, 4]]]))
    >>> sig.tolist(), norm.tolist(), count.tolist()
    ([[4.0, 12.0], [2.0, 8.0]], [[2.0, 4.0], [1.0, 4.0]], [[2.0, 2.0], [1.0, 2.0]])
    >>> StackKernel.intensity(sig[0], norm[0]).tolist()  # sum(x) / sum(norm)
    [2.0, 3.0]
    """

    def __init__(self, matrix, norm=None, static_valid=None, *, dark=None, flat=None,
                 variance_floor: float = 0.0, dark_variance: bool = False,
                 negative_invalid: bool = True, shape=None, row_blocks=None, csc=None):
        m = matrix if sp.issparse(matrix) and matrix.format == "csr" else \
            sp.csr_matrix(matrix)
        n_bins, n_pix = m.shape
        if shape is not None and int(np.prod(shape)) != n_pix:
            raise ValueError(f"shape {tuple(shape)} has {int(np.prod(shape))} pixels, the "
                             f"matrix has {n_pix} columns")
        self.shape = tuple(shape) if shape is not None else None
        self.n_bins, self.n_pixels = n_bins, n_pix

        def per_pixel(name, arr, default):
            if arr is None:
                return np.full(n_pix, default, np.float64)
            arr = np.asarray(arr, np.float64).ravel()
            if arr.size != n_pix:
                raise ValueError(f"{name} has {arr.size} pixels, expected {n_pix}")
            return arr

        pix_norm = per_pixel("norm", norm, 1.0)
        if flat is not None:
            pix_norm = pix_norm * per_pixel("flat", flat, 1.0)
        # no dark: zeros from calloc, which only reading never makes resident
        pix_dark = per_pixel("dark", dark, 0.0) if dark is not None else np.zeros(n_pix)
        valid = np.ones(n_pix, bool)
        if static_valid is not None:
            sv = np.asarray(static_valid, bool).ravel()
            if sv.size != n_pix:
                raise ValueError(f"static_valid has {sv.size} pixels, expected {n_pix}")
            valid &= sv
        valid &= np.isfinite(pix_norm) & np.isfinite(pix_dark)
        if not m.has_sorted_indices:
            m = m.copy()
            m.sort_indices()
        indptr, indices, weights = m.indptr, m.indices, m.data
        # drop masked columns and zero weights once: they never cost anything again
        keep = valid[indices] & (weights != 0)
        if not keep.all():
            cum = np.concatenate([[0], np.cumsum(keep)])
            indptr, indices, weights = cum[indptr], indices[keep], weights[keep]
            csc = None  # the given CSC form no longer matches
        self._csc = None
        if csc is not None and np.all(weights == 1):
            self._csc = (np.asarray(csc[0], np.int64), np.asarray(csc[1], np.int32))
        if weights.dtype != np.float32 and np.array_equal(weights.astype(np.float32), weights):
            weights = weights.astype(np.float32)  # exact (e.g. ones): halves matrix bytes
        elif weights.dtype not in (np.float32, np.float64):
            weights = weights.astype(np.float64)
        self.indptr = np.asarray(indptr, np.int64)
        self.indices = np.asarray(indices, np.int32)
        self.weights = np.ascontiguousarray(weights)
        self.row_nnz = np.diff(self.indptr)
        self.pix_norm = np.where(valid, pix_norm, 0.0)
        self.pix_dark = np.where(valid, pix_dark, 0.0) if dark is not None else pix_dark
        # without a dark both are zeros: one array
        self.pix_dvar = self.pix_dark if dark_variance or dark is None else np.zeros(n_pix)
        self.has_dark = dark is not None
        self.dark_variance = bool(dark_variance) and dark is not None
        self._mat64_cache = self._sq_cache = None
        if self._csc is not None:  # unit weights, pixel-major sums: sequential reads
            def sums(vec, power):
                return _k.col_sums_unit(*self._csc, vec, n_bins)
        else:
            def sums(vec, power):
                return _k.row_dots(self.indptr, self.indices, self.weights, vec, power)
        self.norm_sum = sums(self.pix_norm, 1)
        self.count_sum = sums(np.ones(n_pix), 1)
        self.dark_sum = sums(self.pix_dark, 1)
        self.dvar_sum = sums(self.pix_dvar, 2)
        self.variance_floor = float(variance_floor)
        self.negative_invalid = bool(negative_invalid)
        self.centres = None
        self.unit = None
        # variance == raw signal sum: skip accumulating it in the scatter kernel
        self._var_is_raw = (self.variance_floor == 0.0 and self.negative_invalid
                            and bool(np.all(self.weights == 1)))
        self._csc_ones = None
        self.parts = self._make_parts(row_blocks)

    @property
    def _mat64(self):
        """The matrix as a scipy float64 CSR matrix (reference products only)."""
        if self._mat64_cache is None:
            self._mat64_cache = sp.csr_matrix(
                (self.weights.astype(np.float64), self.indices, self.indptr),
                shape=(self.n_bins, self.n_pixels))
        return self._mat64_cache

    @property
    def _sq(self):
        """The matrix of squared weights (reference variance)."""
        if self._sq_cache is None:
            sq = self._mat64.copy()
            sq.data **= 2
            self._sq_cache = sq
        return self._sq_cache

    def _make_parts(self, row_blocks):
        """Cut the rows into parts: groups of small outputs (scatter) and large maps (gather)."""
        parts = []
        for r0, r1, kind, grid in part_groups(row_blocks, self.n_bins):
            ptr = self.indptr[r0:r1 + 1] - self.indptr[r0]
            part = {"r0": r0, "r1": r1, "kind": kind,
                    "indptr": ptr, "indices": self.indices[self.indptr[r0]:self.indptr[r1]],
                    "weights": self.weights[self.indptr[r0]:self.indptr[r1]]}
            if self._csc is not None and kind == "gather":
                # per-frame masks are taken out through the whole CSC form at once
                col_ptr = col_rows = col_weights = None
            elif self._csc is not None:
                col_ptr, col_rows = scatter_csc(self._csc, r0, r1)
                col_weights = np.ones(col_rows.size, self.weights.dtype)
            else:
                col_ptr, col_rows, col_weights = _k.transpose_csr(
                    ptr, part["indices"], part["weights"], self.n_pixels)
                if col_rows.size < 2**31:
                    col_ptr = col_ptr.astype(np.int32)
            part["col_ptr"] = col_ptr
            part["col_rows"] = col_rows
            part["col_weights"] = col_weights
            if kind == "gather":
                part["order"], part["tiles"] = gather_order(np.diff(ptr), grid)
            else:
                part["chunks"] = _chunks(part["col_ptr"], 2 * max(1, numba.get_num_threads()),
                                         self.n_pixels)
            parts.append(part)
        return parts

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_plan(cls, plan, dark=None, flat=None, negative_invalid=True) -> "StackKernel":
        """Kernel reproducing :meth:`gixs.reduce.frame.Plan.sums` (all of a plan's outputs).

        ``dark`` and ``flat`` are folded in once, exactly as ``Plan.sums(..., dark, flat)``
        applies them per frame. With ``negative_invalid=False`` negative values count (as
        ``Plan.sums`` does when its ``invalid`` does not flag them), with zero variance.
        """
        if dark is None and flat is None:
            state = cls.unit_state(plan, negative_invalid)
            if state is not None:  # every pixel of the plan counts: no O(nnz) weights
                return cls.from_state(plan, *state)
        unit = sp.csr_matrix((np.ones(plan.indices.size, np.float32), plan.indices,
                              plan.indptr), shape=(plan.indptr.size - 1, plan.norm.size))
        kern = cls(unit, plan.norm, plan.static_valid, dark=dark, flat=flat,
                   variance_floor=0.0, dark_variance=False,
                   negative_invalid=negative_invalid,
                   shape=plan.shape,
                   row_blocks=[(b.rows.start, b.rows.stop, tuple(len(c) for c in b.centres))
                               for b in plan.blocks], csc=(plan.col_ptr, plan.col_rows))
        kern.plan = plan
        return kern

    @classmethod
    def unit_state(cls, plan, negative_invalid=True):
        """(meta, arrays) of :meth:`state` for the kernel of ``plan`` without dark or flat,
        made from the plan's CSC form alone (no per-entry weights); None when the plan
        holds pixels the kernel leaves out (masked or non-finite normalisation)."""
        n_bins = plan.indptr.size - 1
        if not _binned_pixels_valid(plan):
            return None
        csc = (np.asarray(plan.col_ptr, np.int64), np.asarray(plan.col_rows, np.int32))
        # every binned pixel is valid: its own norm counts (the others are never read), and
        # a bin's count of unit weights is its number of pixels (exact in float64)
        arrays = {"norm_sum": _k.col_sums_unit(*csc, plan.norm, n_bins),
                  "count_sum": np.diff(plan.indptr).astype(np.float64),
                  "dark_sum": np.zeros(n_bins), "dvar_sum": np.zeros(n_bins)}
        parts = []
        row_blocks = [(b.rows.start, b.rows.stop, tuple(len(c) for c in b.centres))
                      for b in plan.blocks]
        for i, (r0, r1, kind, grid) in enumerate(part_groups(row_blocks, n_bins)):
            parts.append({"r0": r0, "r1": r1, "kind": kind})
            if kind == "scatter":
                arrays[f"part{i}_col_ptr"], arrays[f"part{i}_col_rows"] = \
                    scatter_csc(csc, r0, r1)
            else:
                arrays[f"part{i}_order"], arrays[f"part{i}_tiles"] = \
                    gather_order(np.diff(plan.indptr[r0:r1 + 1]), grid)
        return {"parts": parts, "negative_invalid": bool(negative_invalid)}, arrays

    # -- disk cache ---------------------------------------------------------------------
    _STATE_SUMS = ("norm_sum", "count_sum", "dark_sum", "dvar_sum")

    def state(self):
        """(meta, arrays): what :meth:`from_plan` computes beyond the plan's own arrays
        (per-bin sums, each part's CSC slice, bin order and tiles), for the plan cache;
        None when the kernel cannot be rebuilt from them (dark or flat folded in, pixels
        dropped, weights other than 1)."""
        plan = getattr(self, "plan", None)
        if (plan is None or self.has_dark or self._csc is None
                or self.indices.size != plan.indices.size
                or not _binned_pixels_valid(plan)
                or not (self.pix_norm is plan.norm or np.array_equal(
                    self.pix_norm, np.where(plan.static_valid.ravel(), plan.norm, 0.0)))):
            return None
        arrays = {name: getattr(self, name) for name in self._STATE_SUMS}
        parts = []
        for i, p in enumerate(self.parts):
            parts.append({"r0": p["r0"], "r1": p["r1"], "kind": p["kind"]})
            for name in ("col_ptr", "col_rows", "order", "tiles"):
                if p.get(name) is not None:
                    arrays[f"part{i}_{name}"] = p[name]
        return {"parts": parts, "negative_invalid": self.negative_invalid}, arrays

    @classmethod
    def from_state(cls, plan, meta, arrays) -> "StackKernel":
        """The kernel :meth:`from_plan` gives for ``plan`` (no dark, no flat), from
        :meth:`state` output: no O(nnz) pass over the matrix. ValueError when the arrays
        do not fit the plan."""
        self = cls.__new__(cls)
        n_bins, n_pix = plan.indptr.size - 1, int(np.prod(plan.shape))
        self.shape, self.n_bins, self.n_pixels = tuple(plan.shape), n_bins, n_pix
        self._csc = (np.asarray(plan.col_ptr, np.int64), np.asarray(plan.col_rows, np.int32))
        self.indptr = np.asarray(plan.indptr, np.int64)
        self.indices = np.asarray(plan.indices, np.int32)
        # unit weights: one array of ones as long as the largest part needs, each part a
        # view of its start (the kernels index a part's weights from 0); the whole
        # matrix's weights a read-only broadcast of 1 (reference products only)
        self.weights = np.broadcast_to(np.float32(1.0), (self.indices.size,))
        self.row_nnz = np.diff(self.indptr)
        if not _binned_pixels_valid(plan):
            raise ValueError("kernel state of a plan that bins pixels the kernel leaves out")
        # only binned pixels' norm is ever read, and those are all valid: the plan's own
        self.pix_norm = np.asarray(plan.norm, np.float64)
        self.pix_dark = np.zeros(n_pix)
        self.pix_dvar = self.pix_dark
        self.has_dark = self.dark_variance = False
        self._mat64_cache = self._sq_cache = None
        for name in cls._STATE_SUMS:
            arr = np.asarray(arrays[name], np.float64)
            if arr.shape != (n_bins,):
                raise ValueError(f"kernel {name} of shape {arr.shape}, expected ({n_bins},)")
            setattr(self, name, arr)
        self.variance_floor = 0.0
        self.negative_invalid = bool(meta["negative_invalid"])
        self.centres = self.unit = None
        self._var_is_raw = self.negative_invalid
        self._csc_ones = None
        self.parts = []
        nch = 2 * max(1, numba.get_num_threads())
        need = 0
        for i, pm in enumerate(meta["parts"]):
            if pm.get("kind") == "scatter":
                need = max(need, arrays[f"part{i}_col_rows"].size)
            elif 0 <= int(pm["r0"]) < int(pm["r1"]) <= n_bins:
                need = max(need, int(self.indptr[int(pm["r1"])] - self.indptr[int(pm["r0"])]))
        if need > self.indices.size:
            raise ValueError("kernel parts larger than the matrix")
        ones = np.ones(need, np.float32)
        for i, pm in enumerate(meta["parts"]):
            r0, r1, kind = int(pm["r0"]), int(pm["r1"]), pm["kind"]
            if not 0 <= r0 < r1 <= n_bins or kind not in ("scatter", "gather"):
                raise ValueError(f"kernel part {i} rows {r0}-{r1} ({kind}) do not fit")
            a, b = self.indptr[r0], self.indptr[r1]
            part = {"r0": r0, "r1": r1, "kind": kind,
                    "indptr": self.indptr[r0:r1 + 1] - a, "indices": self.indices[a:b],
                    "weights": ones[:b - a], "col_ptr": None, "col_rows": None,
                    "col_weights": None}
            if kind == "scatter":
                col_ptr = arrays[f"part{i}_col_ptr"]
                col_rows = arrays[f"part{i}_col_rows"]
                if col_ptr.shape != (n_pix + 1,) or int(col_ptr[-1]) != col_rows.size:
                    raise ValueError(f"kernel part {i}: CSC slice does not fit the plan")
                if col_rows.size > self.weights.size:
                    raise ValueError(f"kernel part {i}: CSC slice larger than the matrix")
                part.update(col_ptr=col_ptr, col_rows=col_rows,
                            col_weights=ones[:col_rows.size])
                part["chunks"] = _chunks(col_ptr, nch, n_pix)
            else:
                order = np.asarray(arrays[f"part{i}_order"], np.int64)
                if order.size and (order.min() < 0 or order.max() >= r1 - r0):
                    raise ValueError(f"kernel part {i}: bin order out of range")
                tiles = np.asarray(arrays[f"part{i}_tiles"], np.int64)
                if tiles.size < 2 or tiles[0] != 0 or tiles[-1] != order.size:
                    raise ValueError(f"kernel part {i}: tiles do not cover the bins")
                part["order"] = order
                part["tiles"] = tiles
            self.parts.append(part)
        self.plan = plan
        return self

    @property
    def matrix_bytes(self) -> int:
        """Bytes of matrix the kernel reads per block of frames (all parts)."""
        total = 0
        for p in self.parts:
            if p["kind"] == "scatter":
                total += p["col_ptr"].nbytes + p["col_rows"].nbytes + p["col_weights"].nbytes
            else:
                total += p["indptr"].nbytes + p["indices"].nbytes + p["weights"].nbytes
        return total

    @property
    def passes(self) -> int:
        """How many times each frame is read (once per part)."""
        return len(self.parts)

    # -- applying -----------------------------------------------------------------------
    def _limits(self, dtype):
        if np.issubdtype(dtype, np.floating):
            hi = float(np.finfo(np.float64).max)
            lo = 0.0 if self.negative_invalid else -hi
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            hi = float(info.max) - 1.0  # the saturation value marks a dead pixel (gixs.io.frames)
            lo = 0.0 if self.negative_invalid else float(info.min)
        else:
            raise TypeError(f"frames must be a numeric array, got dtype {dtype}")
        return lo, hi

    def sums_block(self, frames, invalid=None):
        """The four per-bin sums of a block of frames.

        Parameters
        ----------
        frames : ndarray, shape (n, rows, cols) or (n, n_pixels)
            Frames of any numeric dtype; float32 and float64 frames are not copied when
            C-contiguous, others are converted once (:func:`kernel_frames`).
        invalid : ndarray of bool, same shape as ``frames``, optional
            Per-frame invalid pixels (besides non-finite, negative and saturated values,
            which the kernel detects itself).

        Returns
        -------
        signal, norm, variance, count : ndarray, float64, shape (n, n_bins)
            See the module docstring. ``norm`` and ``count`` are read-only broadcast
            views of :attr:`norm_sum` / :attr:`count_sum` when no pixel of the block was
            invalid (copy them with ``np.array`` before writing).
        """
        frames = np.asarray(frames)
        if frames.ndim == 2 and self.shape is not None and frames.shape == self.shape:
            frames = frames[None]
        if frames.ndim < 2 or int(np.prod(frames.shape[1:])) != self.n_pixels:
            raise ValueError(f"frames must have shape (n, {self.shape or self.n_pixels}), "
                             f"got {frames.shape}")
        n = frames.shape[0]
        flat = kernel_frames(frames).reshape(n, self.n_pixels)
        # integer frames keep their own limits (the saturation value marks dead pixels)
        lo, hi = self._limits(frames.dtype if frames.dtype.kind in "iu" else flat.dtype)
        nb = self.n_bins
        sig = np.empty((n, nb))
        var = np.empty((n, nb))
        miss = [np.zeros((n, nb)) for _ in range(4)]  # calloc: untouched pages cost nothing
        n_miss = np.zeros((n, nb), np.int32)
        floor = self.variance_floor
        total = 0
        for p in self.parts:
            total += self._run_part(p, flat, lo, hi, sig, var, miss, n_miss)
        if invalid is not None:
            inv = np.asarray(invalid, bool)
            if inv.shape[0] != n or inv.size != flat.size:
                raise ValueError(f"invalid must have the frames' shape {frames.shape}, "
                                 f"got {inv.shape}")
            inv = inv.reshape(n, self.n_pixels)
            idx = [np.flatnonzero(inv[f]) for f in range(n)]
            if any(i.size for i in idx):
                ptr = np.zeros(n + 1, np.int64)
                ptr[1:] = np.cumsum([i.size for i in idx])
                idx = np.concatenate(idx).astype(np.int64)
                if self._csc is not None:  # every part through the plan's CSC form
                    if self._csc_ones is None:
                        self._csc_ones = np.ones(self._csc[1].size, np.float32)
                    csc = [(*self._csc, self._csc_ones, 0)]
                else:
                    csc = [(p["col_ptr"], p["col_rows"], p["col_weights"], p["r0"])
                           for p in self.parts]
                for cp, cr, cw, r0 in csc:
                    total += _k.mask_corrections(cp, cr, cw, r0, flat, ptr, idx,
                                                 lo, hi, floor, self.pix_norm,
                                                 self.pix_dark, self.pix_dvar, sig, var,
                                                 *miss, n_miss)
        miss_norm, miss_cnt, miss_dark, miss_dvar = miss
        if self.dark_variance:
            var += self.dvar_sum
        if total == 0:
            norm = np.broadcast_to(self.norm_sum, (n, nb))
            count = np.broadcast_to(self.count_sum, (n, nb))
            return sig, norm, var, count
        norm = self.norm_sum - miss_norm
        count = self.count_sum - miss_cnt
        if self.has_dark:
            sig += miss_dark
        if self.dark_variance:
            var -= miss_dvar
        empty = n_miss == self.row_nnz  # every pixel of the bin invalid: exact zeros
        if empty.any():
            for arr in (sig, norm, var, count):
                arr[empty] = 0.0
        return sig, norm, var, count

    def _run_part(self, p, flat, lo, hi, sig, var, miss, n_miss):
        r0, r1 = p["r0"], p["r1"]
        nbp = r1 - r0
        n = flat.shape[0]
        floor = self.variance_floor
        if p["kind"] == "gather":
            views = [a[:, r0:r1] for a in (sig, var, *miss, n_miss)]
            if p["order"].size < nbp:  # bins without pixels: nothing to gather
                sig[:, r0:r1] = -self.dark_sum[r0:r1]
                var[:, r0:r1] = 0.0
            return _k.block_sums(p["indptr"], p["indices"], p["weights"], p["order"],
                                 p["tiles"], flat,
                                 lo, hi, floor, self.pix_norm, self.pix_dark, self.pix_dvar,
                                 self.dark_sum[r0:r1], *views)
        nch = p["chunks"].size - 1
        psig = np.empty((nch, n, nbp))
        pvar = np.empty((nch, n, nbp))
        cap = 4096
        miss_f = np.empty((nch, cap), np.int64)
        miss_j = np.empty((nch, cap), np.int64)
        miss_count = np.zeros(nch, np.int64)
        with_var = not self._var_is_raw
        _scatter.scatter_sums(p["col_ptr"], p["col_rows"], p["col_weights"], p["chunks"],
                              flat, lo, hi, floor, nbp, with_var, psig, pvar, miss_f,
                              miss_j, miss_count)
        np.sum(psig, axis=0, out=sig[:, r0:r1])
        if with_var:
            np.sum(pvar, axis=0, out=var[:, r0:r1])
        else:  # unit weights, floor 0, valid values >= 0: variance = sum of raw counts
            var[:, r0:r1] = sig[:, r0:r1]
        sig[:, r0:r1] -= self.dark_sum[r0:r1]
        total = int(miss_count.sum())
        if total:
            if (miss_count > cap).any():
                mf = np.empty(total, np.int64)
                mj = np.empty(total, np.int64)
                _k.scan_misses(p["col_ptr"], flat, lo, hi, mf, mj)
            else:
                mf = np.concatenate([miss_f[c, :miss_count[c]] for c in range(nch)])
                mj = np.concatenate([miss_j[c, :miss_count[c]] for c in range(nch)])
            _k.apply_misses(p["col_ptr"], p["col_rows"], p["col_weights"], r0, mf, mj,
                            self.pix_norm, self.pix_dark, self.pix_dvar, *miss, n_miss)
        return total

    def sums_reference(self, frame, invalid=None):
        """The same four sums for one frame with scipy sparse products (slow, reference)."""
        x = np.asarray(frame, np.float64).ravel()
        lo, hi = self._limits(np.asarray(frame).dtype)
        with np.errstate(invalid="ignore"):
            valid = (x >= lo) & (x <= hi)
        if invalid is not None:
            valid &= ~np.asarray(invalid, bool).ravel()
        raw = np.where(valid, x, 0.0)
        sig = self._mat64 @ (raw - np.where(valid, self.pix_dark, 0.0))
        norm = self._mat64 @ np.where(valid, self.pix_norm, 0.0)
        pv = np.where(valid, np.maximum(raw, self.variance_floor) + self.pix_dvar, 0.0)
        var = self._sq @ pv
        count = self._mat64 @ valid.astype(np.float64)
        return sig, norm, var, count

    @staticmethod
    def intensity(signal, norm, normalization=1.0, variance=None):
        """``I = signal / norm / normalization`` (NaN where norm is 0) and its sigma."""
        with np.errstate(invalid="ignore", divide="ignore"):
            good = np.asarray(norm) > 0
            inten = np.where(good, signal / norm, np.nan) / normalization
            if variance is None:
                return inten
            sigma = np.where(good, np.sqrt(variance) / norm, np.nan) / normalization
        return inten, sigma


def _chunks(col_ptr, nch, n_pix):
    """Pixel ranges of about equal non-zeros (``nch`` of them) for the scatter kernel.

    The cut targets are rounded up to integers, so searching the integer ``col_ptr``
    itself (no int64 copy) gives the cuts a float search would.
    """
    targets = np.ceil(np.linspace(0, int(col_ptr[-1]), nch + 1)[1:-1]).astype(col_ptr.dtype)
    cuts = np.searchsorted(col_ptr, targets)
    return np.unique(np.r_[0, cuts, n_pix]).astype(np.int64)


# -- streaming ----------------------------------------------------------------------------
def _frame_parts(item):
    """(data, invalid) from a gixs.io.frames.Frame, a (data, invalid) pair or a bare array."""
    if hasattr(item, "data") and hasattr(item, "invalid"):
        return np.asarray(item.data), item.invalid
    if isinstance(item, tuple) and len(item) == 2:
        return np.asarray(item[0]), item[1]
    return np.asarray(item), None


def reduce_stack_sums(kernel, frames, block: int = 8):
    """Per-frame sums of a stack through a kernel, a block of frames at a time.

    Parameters
    ----------
    kernel : StackKernel
        The kernel (dark and flat are folded in when it is built).
    frames : iterable or ndarray (n, rows, cols)
        Frames as ndarrays, :class:`gixs.io.frames.Frame` objects or ``(data, invalid)`` pairs.
        A 3D ndarray is cut into blocks without copying; frames from an iterable are
        stacked into one block buffer.
    block : int
        Frames per pass over the matrix (8-16 for 1D outputs; 2-4 for large maps, whose
        four float64 outputs per bin outweigh the frame).

    Yields
    ------
    (signal, norm, variance, count) : four float64 arrays of shape (n_bins,) per frame,
        in input order.

    Examples
    --------
    >>> k = StackKernel(np.array([[1.0, 1, 0, 0], [0, 0, 1, 1]]), shape=(2, 2))
    >>> frames = [np.array([[1.0, 3], [4, 8]]), np.array([[2.0, -1], [4, 4]])]
    >>> [(s.tolist(), c.tolist()) for s, _, _, c in reduce_stack_sums(k, frames, block=1)]
    [([4.0, 12.0], [2.0, 2.0]), ([2.0, 8.0], [1.0, 2.0])]
    """

    if not isinstance(kernel, StackKernel):
        raise TypeError("reduce_stack_sums takes a StackKernel; reduce a plan's frames with "
                        "gixs.reduce.frame.reduce_frames")
    block = int(block)
    if block < 1:
        raise ValueError(f"block must be >= 1 frame, got {block}")
    kern = kernel
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        for start in range(0, frames.shape[0], block):
            yield from _split(kern.sums_block(frames[start:start + block]))
        return
    buf = inv_buf = None
    n = 0
    any_inv = False
    for item in frames:
        data, invalid = _frame_parts(item)
        if buf is None:
            buf = np.empty((block,) + data.shape, data.dtype)
            inv_buf = np.zeros((block,) + data.shape, bool)
        if data.shape != buf.shape[1:]:
            raise ValueError(f"frame {n} has shape {data.shape}, expected {buf.shape[1:]}")
        if data.dtype != buf.dtype:
            buf = buf.astype(np.result_type(buf.dtype, data.dtype))
        buf[n] = data
        if invalid is not None:
            inv_buf[n] = invalid
            any_inv = True
        else:
            inv_buf[n] = False
        n += 1
        if n == block:
            yield from _split(kern.sums_block(buf, inv_buf if any_inv else None))
            n, any_inv = 0, False
    if n:
        yield from _split(kern.sums_block(buf[:n], inv_buf[:n] if any_inv else None))


def _split(sums):
    sig, norm, var, count = sums
    for f in range(sig.shape[0]):
        yield sig[f], norm[f], var[f], count[f]
