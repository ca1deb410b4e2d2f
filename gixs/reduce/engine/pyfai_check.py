"""Equality checks against pyFAI: engine kernels built from pyFAI's own sparse matrices.

These are not a production path: they exist so that tests and benchmarks can check the
compiled engine (:mod:`gixs.reduce.engine.block`) against pyFAI's own integrations on the
same frames (same matrix, same sums, to rounding).

:func:`azimuthal_kernel` exports the CSR matrix of ``AzimuthalIntegrator.integrate1d``
(its pixel splitting, default bbox) and :func:`fiber_map_kernel` the no-split binning of
``FiberIntegrator.integrate2d_grazing_incidence``; both return a
:class:`gixs.reduce.engine.block.StackKernel` that applies them to blocks of frames.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gixs.reduce.engine.block import StackKernel

def _pyfai_mask(ai, shape, mask):
    det = ai.detector.mask
    out = np.zeros(shape, bool)
    if det is not None and det.shape == tuple(shape):
        out |= det != 0
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != tuple(shape):
            raise ValueError(f"mask has shape {mask.shape}, expected {tuple(shape)}")
        out |= mask
    return out


def azimuthal_kernel(geometry, shape, npt: int, unit: str = "q_A^-1", *,
                     split: str = "bbox", mask=None, polarization_factor=None,
                     solid_angle: bool = True, radial_range=None, azimuth_range=None,
                     dark=None, flat=None, error_model: str = "poisson",
                     integrator=None) -> StackKernel:
    """A kernel with pyFAI's own CSR matrix of ``integrate1d`` (same pixel splitting).

    Parameters
    ----------
    geometry : gixs.geometry.model.DetectorGeometry
        Detector geometry (PONI); ignored when ``integrator`` is given.
    shape : (int, int)
        Image shape (rows, cols).
    npt : int
        Number of radial bins.
    unit : str
        pyFAI radial unit (e.g. ``"q_A^-1"``, ``"2th_deg"``); bin centres are in it.
    split : {"bbox", "no", "full"}
        pyFAI pixel splitting ("bbox" is pyFAI's integrate1d default).
    mask : ndarray of bool, optional
        True = masked; combined with the detector's own mask. Pass the same combined mask
        to pyFAI to compare.
    polarization_factor : float or None
        pyFAI polarization factor; None = no correction (pyFAI's default).
    solid_angle : bool
        Correct for the solid angle (pyFAI's default True).
    radial_range : (float, float), optional
        In ``unit``; the full range when None.
    azimuth_range : (float, float), optional
        chi range in deg.
    dark, flat : ndarray, optional
        Folded in once as pyFAI applies them per frame.
    error_model : {"poisson", "gixs"}
        "poisson": variance ``max(x, 1)`` as pyFAI's ``error_model="poisson"`` (its Cython
        engine does not add the dark, checked on pyFAI 2026.9); "gixs": ``max(x, 0)``.
    integrator : pyFAI AzimuthalIntegrator, optional
        Use this one instead of building it from ``geometry``.

    Returns
    -------
    StackKernel
        With ``centres`` (bin centres in ``unit``), ``unit`` and ``integrator`` set.
    """
    import pyFAI.units

    shape = tuple(int(s) for s in shape)
    ai = integrator if integrator is not None else \
        geometry.for_image_shape(shape).make_integrator()
    u = pyFAI.units.to_unit(unit)
    kern = _pyfai_kernel(ai, shape, int(npt), u, split, mask, radial_range, azimuth_range,
                         polarization_factor, solid_angle, dark, flat, error_model)
    integ = kern._pyfai_engine
    kern.centres = np.asarray(integ.bin_centers, np.float64) * u.scale
    kern.unit = str(u)
    return kern


def fiber_map_kernel(geometry, shape, npt=(1000, 1000), *, incident_angle=0.0,
                     tilt_angle=0.0, sample_orientation=1, unit_ip="qip_A^-1",
                     unit_oop="qoop_A^-1", ip_range=None, oop_range=None, mask=None,
                     polarization_factor=None, solid_angle=True, dark=None, flat=None,
                     error_model="poisson", integrator=None) -> StackKernel:
    """A kernel with pyFAI's no-split CSR of the q_ip/q_oop map (FiberIntegrator's binning).

    Conservative (no interpolation, no pixel splitting): every pixel goes whole into the
    bin of its centre, as ``FiberIntegrator.integrate2d_grazing_incidence`` with its
    default method ``("no", "histogram")``. Angles in radians.

    Parameters
    ----------
    geometry : gixs.geometry.model.DetectorGeometry
        Detector geometry; ignored when ``integrator`` (a FiberIntegrator) is given.
    shape : (int, int)
        Image shape.
    npt : (int, int)
        Bins (in-plane, out-of-plane).
    incident_angle, tilt_angle : float
        rad.
    sample_orientation : int
        pyFAI EXIF orientation code 1-8.
    unit_ip, unit_oop : str
        pyFAI fiber units.
    ip_range, oop_range : (float, float), optional
        Ranges in those units (the pixels' full range when None).
    mask, polarization_factor, solid_angle, dark, flat, error_model :
        As :func:`azimuthal_kernel`.

    Returns
    -------
    StackKernel
        Rows ordered in-plane-major (``row = i_ip * npt_oop + i_oop``): reshape a result to
        ``(npt_ip, npt_oop)`` and transpose for pyFAI's ``(oop, ip)`` image. ``centres``
        holds the two axes' bin centres in their units.
    """
    from pyFAI.units import parse_fiber_unit

    shape = tuple(int(s) for s in shape)
    fi = integrator if integrator is not None else \
        geometry.for_image_shape(shape).make_integrator(fiber=True)
    u_ip = parse_fiber_unit(unit=unit_ip, sample_orientation=sample_orientation,
                            incident_angle=incident_angle, tilt_angle=tilt_angle)
    config = u_ip.get_config_shared()
    u_oop = parse_fiber_unit(unit=unit_oop, **config)
    fi.reset_integrator(**config)
    npt = (int(npt[0]), int(npt[1]))
    kern = _pyfai_kernel(fi, shape, npt, (u_ip, u_oop), "no", mask, ip_range, oop_range,
                         polarization_factor, solid_angle, dark, flat, error_model,
                         row_blocks=[(0, npt[0] * npt[1], npt)])
    integ = kern._pyfai_engine
    kern.centres = (np.asarray(integ.bin_centers0, np.float64) * u_ip.scale,
                    np.asarray(integ.bin_centers1, np.float64) * u_oop.scale)
    kern.unit = (str(u_ip), str(u_oop))
    return kern


def _pyfai_kernel(ai, shape, npt, unit, split, mask, range0, range1, polarization_factor,
                  solid_angle, dark, flat, error_model, row_blocks=None):
    """StackKernel around the CSR matrix of pyFAI's ``setup_sparse_integrator``."""
    if split not in ("bbox", "no", "full"):
        raise ValueError(f"split must be 'bbox', 'no' or 'full', got {split!r}")
    if error_model not in ("poisson", "gixs"):
        raise ValueError(f"error_model must be 'poisson' or 'gixs', got {error_model!r}")
    full_mask = _pyfai_mask(ai, shape, mask)
    integ = ai.setup_sparse_integrator(shape, npt, mask=full_mask.astype(np.int8),
                                       pos0_range=range0, pos1_range=range1,
                                       unit=unit, split=split, algo="CSR", scale=True)
    data, indices, indptr = (np.asarray(a) for a in (integ.data, integ.indices,
                                                      integ.indptr))
    matrix = sp.csr_matrix((data, indices, indptr),
                           shape=(len(indptr) - 1, int(np.prod(shape))))
    norm = np.ones(shape, np.float32)
    if solid_angle:  # pyFAI multiplies its corrections in float32
        norm = norm * ai.solidAngleArray(shape, True).astype(np.float32)
    if polarization_factor is not None:
        norm = norm * ai.polarization(shape, polarization_factor).astype(np.float32)
    if flat is not None:
        norm = norm * np.asarray(flat, np.float32)
        flat = None
    kern = StackKernel(matrix, norm, ~full_mask & (norm != 0), dark=dark,
                       variance_floor=1.0 if error_model == "poisson" else 0.0,
                       dark_variance=False, negative_invalid=True, shape=shape,
                       row_blocks=row_blocks)
    kern.integrator = ai
    kern._pyfai_engine = integ
    return kern
