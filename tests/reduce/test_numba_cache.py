"""Numba's cache falls back to a writable folder instead of crashing at import."""

import os
import subprocess
import sys

import pytest

from gixs.reduce.engine import cache


def test_fallback_when_default_cache_not_writable(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path))
    real = cache._writable
    monkeypatch.setattr(cache, "_writable", lambda d: str(d).startswith(str(tmp_path))
                        and real(d))
    folder = cache.ensure_numba_cache()
    assert folder is not None and folder.startswith(str(tmp_path))
    assert os.environ["NUMBA_CACHE_DIR"] == folder


def test_user_setting_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.ensure_numba_cache() is None
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_unwritable_user_setting_replaced_with_a_warning(monkeypatch, tmp_path):
    from gixs.errors import GixsWarning

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker / "numba"))
    monkeypatch.setattr(cache, "CACHE", True)
    with pytest.warns(GixsWarning, match=f"NUMBA_CACHE_DIR={blocker / 'numba'} is not "
                                         "writable"):
        cache.ensure_numba_cache()
    assert os.environ.get("NUMBA_CACHE_DIR") != str(blocker / "numba")
    assert cache.CACHE


def test_engine_imports_without_home(tmp_path):
    """No HOME and an unwritable XDG cache: the engine still imports and runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=os.pathsep.join(sys.path), XDG_CACHE_HOME="/proc/nonexistent")
    code = ("import numpy as np, scipy.sparse as sp\n"
            "from gixs.reduce.engine.block import StackKernel\n"
            "k = StackKernel(sp.identity(4, format='csr'), np.ones(4))\n"
            "print(k.sums_block(np.ones((1, 4), np.float32))[0].sum())\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4.0"


def _installed_read_only(tmp_path):
    """A copy of gixs whose caches cannot be written, even by root: a regular file stands
    where each cache folder would be made (``__pycache__`` of the engine and of reduce),
    and NUMBA_CACHE_DIR / XDG_CACHE_HOME point below a regular file."""
    import shutil

    site = tmp_path / "site"
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(cache.__file__)))))
    shutil.copytree(os.path.join(src, "gixs"), site / "gixs",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for pkg in ("reduce", "reduce/engine"):
        (site / "gixs" / pkg / "__pycache__").write_text("not a folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1",
               NUMBA_CACHE_DIR=str(blocker / "numba"), XDG_CACHE_HOME=str(blocker / "xdg"),
               TMPDIR=str(tmp_path / "tmp"))
    return env


RUN = ("import numpy as np, scipy.sparse as sp, warnings\n"
       "warnings.simplefilter('always')\n"
       "{pre}"
       "from gixs.reduce.engine import cache\n"
       "from gixs.reduce.engine.block import StackKernel\n"
       "from gixs.reduce import binning\n"
       "k = StackKernel(sp.identity(4, format='csr'), np.ones(4))\n"
       "print(k.sums_block(np.arange(4, dtype=np.float32).reshape(1, 4))[0].sum(), "
       "cache.CACHE)\n")


@pytest.mark.slow
def test_read_only_install_unwritable_numba_dir_no_home(tmp_path):
    """Read-only install, NUMBA_CACHE_DIR unwritable, no HOME, XDG unwritable: the kernels
    are cached in the temporary directory (with a warning naming the bad setting)."""
    env = _installed_read_only(tmp_path)
    (tmp_path / "tmp").mkdir()
    out = subprocess.run([sys.executable, "-c", RUN.format(pre="")], env=env,
                         capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6.0", "True"]
    assert f"NUMBA_CACHE_DIR={tmp_path / 'blocker' / 'numba'} is not writable" in out.stderr
    cached = [f for _, _, fs in os.walk(tmp_path / "tmp") for f in fs if f.endswith(".nbi")]
    assert cached, "the kernels were cached in the temporary directory"


@pytest.mark.slow
def test_no_writable_folder_at_all_compiles_without_cache(tmp_path):
    """Not even a temporary directory (gettempdir made to fail): no cache, same numbers."""
    env = _installed_read_only(tmp_path)
    pre = ("import tempfile\n"
           "def _none():\n"
           "    raise FileNotFoundError(2, 'No usable temporary directory found')\n"
           "tempfile.gettempdir = _none\n")
    out = subprocess.run([sys.executable, "-c", RUN.format(pre=pre)], env=env,
                         capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6.0", "False"]
    assert "the kernels are compiled at each start" in out.stderr
