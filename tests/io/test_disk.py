"""A full disk or a read-only output: one line naming the output, nothing left behind
(issue 14). Real filesystems where the test may mount them (root, a private mount
namespace via ``unshare -m``), simulated errors everywhere else."""

import errno
import os
import shutil
import subprocess
import sys

import fabio
import numpy as np
import pytest

from gixs.cli.app import main
from gixs.io import h5write

from ..conftest import make_geometry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def small(tmp_path):
    from gixs.geometry.model import write_poni

    poni = tmp_path / "g.poni"
    write_poni(make_geometry("Pilatus100k", dist=0.5, poni1=0.001, poni2=0.004,
                             wavelength_a=1.2), poni)
    edf = tmp_path / "f.edf"
    img = np.random.default_rng(5).poisson(50, (195, 487)).astype(np.int32)
    fabio.edfimage.EdfImage(data=img).write(str(edf))
    return tmp_path, poni, edf


def _can_mount():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs "
                            "/mnt && umount /mnt"], capture_output=True)
    return probe.returncode == 0


MOUNT = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare -m to mount")


def _in_private_mount(mount, argv, folder):
    """Run ``gixs ARGV`` with ``folder`` mounted as ``mount`` (a shell mount command
    template) in a private mount namespace; (rc, stderr, files left in the folder)."""
    cmd = " ".join(map(str, [sys.executable, "-m", "gixs.cli.app", *argv]))
    script = (f"{mount.format(folder=folder)} && {cmd}; rc=$?; echo @@LEFT; "
              f"find {folder} -type f; exit $rc")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, PYTHONPATH=REPO),
                         cwd=REPO)
    left = out.stdout.split("@@LEFT", 1)[-1].split()
    return out.returncode, out.stderr, left


@pytest.mark.slow
@MOUNT
@pytest.mark.parametrize("command", ["reduce", "batch"])
def test_full_disk_real_tmpfs(small, command):
    """A 200 kB tmpfs: exit 2, one line, no temporary left (was: h5py tracebacks, then a
    segfault, exit 139)."""
    d, poni, edf = small
    disk = d / "disk"
    disk.mkdir()
    target = disk / ("out" if command == "reduce" else "b.h5")
    rc, err, left = _in_private_mount(
        "mount -t tmpfs -o size=200k tmpfs {folder}",
        [command, edf, "--poni", poni, "--incidence-deg", "0.2", "-o", target, "--no-plot"],
        disk)
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0], err
    assert not [p for p in left if p.endswith(".part") or "/." in p], left
    if command == "reduce":
        assert lines[0] == (f"gixs reduce: error: {target}/f.h5: no space left on the device "
                            "(nothing written)")
        assert left == []


@pytest.mark.slow
@MOUNT
def test_read_only_output_real_mount(small):
    """A read-only bind mount (root writes through chmod, not through a ro mount)."""
    d, poni, edf = small
    ro = d / "ro"
    ro.mkdir()
    (ro / "out").mkdir()
    rc, err, left = _in_private_mount(
        "mount --bind -o ro {folder} {folder}",
        ["reduce", edf, "--poni", poni, "--incidence-deg", "0.2", "-o", ro / "out",
         "--no-plot"], ro)
    assert rc == 2, err
    assert err.splitlines() == [f"gixs reduce: error: {ro / 'out' / 'f.h5'}: Read-only file "
                                "system"], err
    assert left == []


class _FullDisk:
    """A binary file on which writes fail with ENOSPC after ``room`` bytes."""

    def __init__(self, path, mode, room):
        self.fh = open(path, mode)
        self.room = room

    def write(self, data):
        if self.fh.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)


def _one_line(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_full_disk_simulated_hdf5(small, capsys, monkeypatch):
    """ENOSPC inside an HDF5 write (through h5_create's file object)."""
    d, poni, edf = small
    monkeypatch.setattr(h5write, "open", lambda p, m: _FullDisk(p, m, 100_000),
                        raising=False)
    out = d / "out"
    rc = main(["reduce", str(edf), "--poni", str(poni), "--incidence-deg", "0.2", "-o",
               str(out), "--no-plot"])
    assert _one_line(capsys, rc) == (f"gixs reduce: error: {out}/f.h5: no space left on the "
                                     "device (nothing written)")
    assert not out.exists()  # the -o folder made for the set is gone with it


def test_full_disk_simulated_text(tmp_path):
    """ENOSPC while writing a text output: the OSError names the output, no temporary."""
    from gixs.io.frames import atomic_path

    target = tmp_path / "t.csv"
    with pytest.raises(OSError) as err:
        with atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.filename == str(target) and err.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("code,words", [(errno.EROFS, "Read-only file system"),
                                        (errno.EACCES, "Permission denied")])
def test_read_only_output_simulated(small, capsys, monkeypatch, code, words):
    """The temporary folder cannot be made: the line names the output file, not the
    hidden temporary."""
    import tempfile

    d, poni, edf = small
    real = tempfile.mkdtemp

    def mkdtemp(prefix="", suffix="", dir=None):
        if str(dir).startswith(str(d / "out")):
            raise OSError(code, os.strerror(code), os.path.join(dir, prefix + "xyz" + suffix))
        return real(prefix=prefix, suffix=suffix, dir=dir)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    out = d / "out"
    rc = main(["reduce", str(edf), "--poni", str(poni), "--incidence-deg", "0.2", "-o",
               str(out), "--no-plot"])
    line = _one_line(capsys, rc)
    assert line == f"gixs reduce: error: {out}/f.h5: {words}" and ".part" not in line
