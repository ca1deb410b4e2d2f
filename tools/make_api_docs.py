"""Write docs/api/*.rst: one page per subpackage, an automodule entry per module.

Run after adding or removing a module: ``python tools/make_api_docs.py``; the test
suite checks that every module of the package is listed.
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"geometry": "Geometry", "io": "Reading and writing", "reduce": "Reduction",
            "calibrate": "Calibration", "superlattice": "Superlattice metrics",
            "bragg": "Bragg indexing", "batch": "Batch processing", "plot": "Figures"}
LEAVES = ["errors", "units", "results", "peaks", "simulate"]


def modules(package):
    folder = ROOT / "gixs" / package
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                  for p in folder.rglob("*.py") if p.name != "__init__.py")


def main():
    out = ROOT / "docs" / "api"
    out.mkdir(parents=True, exist_ok=True)
    for package, title in PACKAGES.items():
        text = f"{title}\n{'=' * len(title)}\n\n.. automodule:: gixs.{package}\n   :no-members:\n\n"
        text += "".join(f".. automodule:: {m}\n\n" for m in modules(package))
        (out / f"{package}.rst").write_text(text)
    text = "Leaves\n======\n\n" + "".join(f".. automodule:: gixs.{m}\n\n" for m in LEAVES)
    (out / "leaves.rst").write_text(text)


if __name__ == "__main__":
    main()
