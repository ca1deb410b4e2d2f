"""Checks of what a reduction is given: corrections, normalisation, the frame itself.

One place for the physical-sense checks of the inputs of every command and of the
library's :func:`gixs.reduce.frame.reduce_frame` and :func:`gixs.batch.run.reduce_stack`:

- a **flat field** multiplies each pixel's normalisation; its pixels that are 0, negative,
  NaN or inf carry no information and are masked (signal and normalisation both), with a
  warning; a flat with no usable pixel is refused;
- a **dark** is subtracted; its NaN/inf pixels are masked, an all-NaN dark is refused
  (negative dark values are kept: offset-corrected darks have them);
- a **mask** must be finite (nonzero = masked);
- the **normalisation** (exposure s x monitor) must be a finite number > 0; the one rule
  for its default is :func:`normalization_for`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from gixs.errors import FormatError as _FormatError, GixsWarning


class FormatError(_FormatError, ValueError):
    """A correction array or value that makes no physical sense: a
    :class:`gixs.errors.FormatError` that is also a ValueError (bad argument values)."""


def check_normalization(value, *, name="--normalize-by") -> float:
    """``value`` as a float, or ValueError unless it is finite and > 0.

    Examples
    --------
    >>> check_normalization(2)
    2.0
    >>> check_normalization(0)
    Traceback (most recent call last):
    ...
    ValueError: --normalize-by must be a positive finite number (exposure s x monitor), got 0
    """
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if isinstance(value, bool) or not (math.isfinite(out) and out > 0):
        raise ValueError(f"{name} must be a positive finite number (exposure s x monitor), "
                         f"got {value!r}")
    return out


def normalization_for(metadata, given=None, *, name="--normalize-by") -> float:
    """The one normalisation rule of gixs: divide by ``given`` when set (checked), else
    by the file's exposure time (s) when it has a positive one, else by 1.

    Examples
    --------
    >>> normalization_for({"exposure_s": 0.5})
    0.5
    >>> normalization_for({"exposure_s": 0.5}, 2.0)
    2.0
    >>> normalization_for({})
    1.0
    """
    if given is not None:
        return check_normalization(given, name=name)
    exp = (metadata or {}).get("exposure_s")
    try:
        exp = float(exp)
    except (TypeError, ValueError):
        return 1.0
    return exp if math.isfinite(exp) and exp > 0 else 1.0


def check_corrections(mask=None, dark=None, flat=None, shape=None, *, names=None):
    """Checked (mask, dark, flat): shapes agree, bad flat/dark pixels masked.

    Parameters
    ----------
    mask, dark, flat : ndarray or None
        Mask (nonzero = masked), dark (subtracted) and flat field (multiplies the
        normalisation) of one detector.
    shape : tuple, optional
        Shape (rows, columns) of the frames they correct.
    names : dict, optional
        What to call each in messages (a file name or an argument), by "mask", "dark",
        "flat".

    Returns
    -------
    mask : ndarray of bool or None
        The mask, plus the flat's and dark's unusable pixels.
    dark, flat : ndarray of float32 or None
        Copies with the masked pixels set to 0 (dark) and 1 (flat), so that a second
        check finds nothing more to mask.

    Raises
    ------
    FormatError
        A shape differs, the mask is not finite, the flat has no positive finite pixel,
        the dark has no finite pixel.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     m, d, f = check_corrections(flat=np.array([[1.0, 0.0]]))
    >>> m.tolist(), f.tolist()
    ([[False, True]], [[1.0, 1.0]])
    """
    names = {"mask": "mask", "dark": "dark", "flat": "flat field", **(names or {})}
    arrays = {"mask": mask, "dark": dark, "flat": flat}
    for key, arr in arrays.items():
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise FormatError(f"{names[key]}: {key} is {arr.ndim}-D, expected a 2D image")
        if shape is None:
            shape = arr.shape
        elif tuple(arr.shape) != tuple(shape):
            raise FormatError(f"{names[key]}: {key} has shape {arr.shape[0]}x{arr.shape[1]},"
                              f" expected {shape[0]}x{shape[1]} like the frame")
    out_mask = None
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype.kind == "f" and not np.isfinite(m).all():
            raise FormatError(f"{names['mask']}: mask has NaN/inf pixels, expected 0 (valid) "
                              "or nonzero (masked)")
        out_mask = m != 0
    if dark is not None:
        dark = np.array(dark, np.float32)
        bad = ~np.isfinite(dark)
        if bad.all():
            raise FormatError(f"{names['dark']}: dark has no finite pixel (all NaN/inf)")
        if bad.any():
            warnings.warn(f"{names['dark']}: {int(bad.sum())} NaN/inf dark pixel(s) are "
                          "masked", GixsWarning, stacklevel=2)
            dark[bad] = 0.0
            out_mask = bad if out_mask is None else out_mask | bad
    if flat is not None:
        flat = np.array(flat, np.float32)
        bad = ~(np.isfinite(flat) & (flat > 0))
        if bad.all():
            raise FormatError(f"{names['flat']}: flat field has no positive finite pixel "
                              "(expected values > 0, about 1)")
        if bad.any():
            warnings.warn(f"{names['flat']}: {int(bad.sum())} flat-field pixel(s) that are "
                          "0, negative or NaN are masked", GixsWarning, stacklevel=2)
            flat[bad] = 1.0
            out_mask = bad if out_mask is None else out_mask | bad
    return out_mask, dark, flat


def check_frame(frame, mask=None):
    """FormatError unless the frame has at least one valid, unmasked pixel."""
    bad = frame.invalid if mask is None else frame.invalid | np.asarray(mask, bool)
    if bad.all():
        raise FormatError(f"{frame.source}: frame {frame.index} has no valid pixel (all NaN, "
                          "inf, negative, saturated or masked)")
