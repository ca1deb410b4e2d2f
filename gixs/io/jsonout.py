"""JSON files written by gixs: one encoder, a schema name and version in every file.

Every JSON document gixs writes is a dict carrying ``"schema"`` (what it is, e.g.
``"gixs.spacing"``) and ``"schema_version"`` (an integer, raised whenever a key changes
meaning or disappears). :func:`read_json` refuses a file of another schema or of a newer
version than this gixs knows, so a result is never read with the wrong meaning.

Values are made JSON-friendly by :func:`to_jsonable`: numpy scalars and arrays become
numbers and lists, non-finite floats become ``null`` (JSON has no NaN), enums their value,
paths strings, tuples lists.
"""

from __future__ import annotations

import enum
import json
import math
import os
import pathlib

from gixs.errors import FormatError
from gixs.io.frames import write_text

#: Known schemas and the version this gixs writes.
SCHEMAS = {
    "gixs.spacing": 1,        # gixs spacing --json / OrderingResult.to_dict
    "gixs.index": 1,          # gixs index --json / IndexResult.to_dict
    "gixs.calibration": 1,    # gixs calibrate --report
    "gixs.demo": 1,           # gixs demo summary.json
    "gixs.batch-run": 1,      # batch work folder run.json (resume fingerprint)
    "gixs.reduce": 1,         # provenance of reduced NeXus files
}


def to_jsonable(value):
    """``value`` with every part made JSON-friendly (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"q": np.float32(0.5), "x": np.arange(2), "bad": float("nan")})
    {'q': 0.5, 'x': [0, 1], 'bad': None}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (pathlib.PurePath,)):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array or scalar
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to JSON: {value!r}")


def dumps(obj, *, schema: str, indent=1) -> str:
    """JSON text of the dict ``obj`` stamped with ``schema`` and its version."""
    if schema not in SCHEMAS:
        raise ValueError(f"schema: unknown {schema!r}; known: {', '.join(SCHEMAS)}")
    if not isinstance(obj, dict):
        raise TypeError(f"obj: a dict is expected, got {type(obj).__name__}")
    doc = {"schema": schema, "schema_version": SCHEMAS[schema]}
    doc.update({k: v for k, v in obj.items() if k not in doc})
    return json.dumps(to_jsonable(doc), indent=indent, allow_nan=False) + "\n"


def write_json(path, obj, *, schema: str) -> None:
    """Write ``obj`` (a dict) to ``path`` atomically with its schema stamp.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> write_json(path, {"d_spacing": 12.5}, schema="gixs.spacing")
    >>> read_json(path, schema="gixs.spacing")["d_spacing"]
    12.5
    """
    write_text(path, dumps(obj, schema=schema))


def read_json(path, *, schema: str) -> dict:
    """Read a gixs JSON file, checking it is of ``schema`` at a version this gixs knows.

    Raises
    ------
    FormatError
        Not JSON, not a gixs document of that schema, or of a newer version.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise FormatError(f"{path}: expected a {schema} document, found {found!r}")
    version = doc.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMAS[schema]:
        raise FormatError(f"{path}: {schema} version {version!r} is not one this gixs reads "
                          f"(1..{SCHEMAS[schema]}); upgrade gixs")
    return doc
