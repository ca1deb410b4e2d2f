"""Write notebooks/reduce.ipynb (cells without outputs)."""
import nbformat as nbf

cells = [
    nbf.v4.new_markdown_cell(
        "# Reduce one grazing-incidence frame\n\n"
        "Loads a real GIWAXS frame (PbI2 film, NSLS-II CMS, 12.7 keV, incidence 0.3 deg) when "
        "`../../shared/data/real` is present, otherwise a simulated textured film; reduces it "
        "to the q_xy/q_z map (missing wedge left empty), the azimuthal I(q) and the GI cuts. "
        "q is in 1/A throughout."),
    nbf.v4.new_code_cell(
        "import pathlib\nimport numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\nimport gixs\nfrom gixs import plot\n\n"
        "REAL = pathlib.Path('..').resolve().parent / 'shared' / 'data' / 'real' / "
        "'pywaxs_cms_giwaxs_perovskite'\nREAL.exists()"),
    nbf.v4.new_code_cell(
        "if REAL.exists():\n"
        "    frame = gixs.read_frame(REAL / 'sam0_pbi2_dmf_0p5m_5scfh_Si_40uL_001_2140.9s_x2.002_"
        "th0.300_0.49s_1115972_001000_maxs.tiff')\n"
        "    geometry = gixs.load_poni(REAL / 'jun23_poni_01_LaB6_5.6m_12.7keV_corrected_1150.1s_"
        "x-1.601_th0.500_5.00s_1116949_maxs.poni')\n"
        "    mask = gixs.read_mask(REAL / 'jun23_nslsii11bmcms_WAXS2pil1M_mask_01.edf', "
        "frame.data.shape)\n"
        "    # film scattering goes towards row 0 on this detector: orientation code 4\n"
        "    gi = gixs.GIGeometry.from_degrees(incidence_deg=0.3, orientation=4)\n"
        "    data = frame\n"
        "else:\n"
        "    from gixs import simulate\n"
        "    from gixs.cli.demo import _geometries\n"
        "    geometry = _geometries()[1]\n"
        "    gi = gixs.GIGeometry.from_degrees(incidence_deg=0.2)\n"
        "    data = simulate.textured_cubic_film(geometry, gi, 5.87, rng=1)\n"
        "    mask = None\n"
        "reduced = gixs.reduce_frame(data, geometry, gi, gixs.ReduceSettings(npt_q=1000, "
        "sectors=((0, 10), (80, 90))), mask=mask)\n"
        "sorted(reduced.profiles), sorted(reduced.maps)"),
    nbf.v4.new_code_cell(
        "fig = plot.reduction_figure(reduced, getattr(data, 'data', data), mask, "
        "title='one frame')\nfig"),
    nbf.v4.new_code_cell(
        "qmap = reduced.maps['qmap']\n"
        "print(f\"q_xy range {qmap.x[0]:.3f} to {qmap.x[-1]:.3f} A^-1, \"\n"
        "      f\"{np.isnan(qmap.intensity).mean():.1%} of map bins empty (wedge, gaps)\")\n"
        "iq = reduced.profiles['iq'].valid()\n"
        "print(f\"strongest ring at q = {iq.x[np.argmax(iq.intensity)]:.4f} A^-1\")"),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {
    "name": "python3", "display_name": "Python 3", "language": "python"}})
nbf.write(nb, "notebooks/reduce.ipynb")
