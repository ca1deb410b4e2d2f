"""Numba's cache falls back to a writable folder instead of crashing at import."""

import os
import subprocess
import sys

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


def test_user_setting_kept(monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere")
    assert cache.ensure_numba_cache() is None


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
