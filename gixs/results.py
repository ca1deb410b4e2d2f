"""Result containers: 1D profiles and 2D maps, each carrying units and provenance.

The containers are frozen: a step that adds to a result makes a new one
(:meth:`ReducedFrame.with_provenance`, ``dataclasses.replace``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from gixs.units import CSV_AXIS, LABELS


@dataclasses.dataclass(frozen=True)
class Profile:
    """A 1D profile.

    Attributes
    ----------
    name : str
        "iq" (azimuthal), "ip" (in-plane cut), "oop" (out-of-plane cut), ``sector_...`` or other.
    axis : str
        Abscissa kind: "q", "qxy", "qz" or "chi" (see :data:`gixs.units.CSV_AXIS`).
    x : ndarray
        Bin centres (1/A for q axes, deg for chi).
    intensity, sigma : ndarray
        Corrected mean intensity per bin and its standard error (Poisson), NaN in empty bins.
    count : ndarray
        Number of valid pixels per bin.
    band : dict
        The selection that made the profile (q_z band, q_xy band, chi range; units in keys).

    Examples
    --------
    >>> import numpy as np
    >>> p = Profile("ip", "qxy", np.array([0.05, 0.06, 0.07]), np.array([3.0, np.nan, 2.0]),
    ...             np.array([0.1, np.nan, 0.1]), np.array([12, 0, 9]))
    >>> p.x_label
    'q_xy (A^-1)'
    >>> p.valid().x.tolist()
    [0.05, 0.07]
    """

    name: str
    axis: str
    x: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    count: np.ndarray
    band: dict = dataclasses.field(default_factory=dict)

    @property
    def x_label(self) -> str:
        return LABELS[self.axis]

    @property
    def csv_axis(self) -> str:
        return CSV_AXIS[self.axis]

    def valid(self) -> "Profile":
        """The profile without its empty bins."""
        keep = np.isfinite(self.intensity) & (self.count > 0)
        return dataclasses.replace(self, x=self.x[keep], intensity=self.intensity[keep],
                                   sigma=self.sigma[keep], count=self.count[keep])


@dataclasses.dataclass(frozen=True)
class Map2D:
    """A 2D map ``intensity[iy, ix]`` on regular axes.

    Attributes
    ----------
    name : str
        "qmap" (q_xy horizontal, q_z vertical) or "qchi" (q horizontal, chi vertical).
    x_axis, y_axis : str
        Axis kinds ("qxy", "qz", "q", "chi").
    x, y : ndarray
        Bin centres (1/A or deg).
    intensity : ndarray, shape (len(y), len(x))
        Corrected mean intensity; NaN where no pixel lands (missing wedge, gaps).
    count : ndarray
        Valid pixels per bin.

    Examples
    --------
    >>> import numpy as np
    >>> m = Map2D("qmap", "qxy", "qz", np.array([0.0, 0.1]), np.array([0.0, 0.2, 0.4]),
    ...           np.ones((3, 2)), np.ones((3, 2), int))
    >>> [round(float(v), 3) for v in m.extent]
    [-0.05, 0.15, -0.1, 0.5]
    """

    name: str
    x_axis: str
    y_axis: str
    x: np.ndarray
    y: np.ndarray
    intensity: np.ndarray
    count: np.ndarray

    @property
    def extent(self):
        """(x0, x1, y0, y1) bin-edge extent for ``imshow(origin="lower")``."""
        dx = (self.x[1] - self.x[0]) / 2 if len(self.x) > 1 else 0.5
        dy = (self.y[1] - self.y[0]) / 2 if len(self.y) > 1 else 0.5
        return (self.x[0] - dx, self.x[-1] + dx, self.y[0] - dy, self.y[-1] + dy)


@dataclasses.dataclass(frozen=True)
class ReducedFrame:
    """Everything :func:`gixs.reduce.frame.reduce_frame` makes of one frame.

    Attributes
    ----------
    profiles : dict
        Profile name ("iq", "ip", "oop", sectors) -> :class:`Profile`.
    maps : dict
        Map name ("qmap", "qchi") -> :class:`Map2D`.
    provenance : dict
        Source file, geometry, settings and corrections that made the frame.

    Examples
    --------
    >>> r = ReducedFrame(profiles={}, maps={}, provenance={"source": "film_001.tif"})
    >>> r.provenance["source"]
    'film_001.tif'
    """

    profiles: dict
    maps: dict
    provenance: dict

    def with_provenance(self, **extra) -> "ReducedFrame":
        """A copy whose provenance has ``extra`` added (this frame is left unchanged).

        Examples
        --------
        >>> r = ReducedFrame({}, {}, {"source": "a.tif"})
        >>> r.with_provenance(batch={"run": 1}).provenance
        {'source': 'a.tif', 'batch': {'run': 1}}
        >>> r.provenance
        {'source': 'a.tif'}
        """
        return dataclasses.replace(self, provenance={**self.provenance, **extra})
