"""The ``gixs`` executable (``gixs.cli.app.console``): the process ends without the
interpreter's teardown, but everything an exit owes is done first."""

import subprocess
import sys

import pytest


def _run(code, *argv):
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                          text=True, timeout=120)


def test_console_flushes_output_runs_atexit_and_joins_threads(tmp_path):
    """A command's stdout (piped, so block-buffered) arrives whole; atexit handlers run
    (coverage and logging use them); a non-daemon thread still working is waited for."""
    poni = tmp_path / "g.poni"
    code = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "def late():\n    time.sleep(0.3)\n"
        f"    open({str(poni) + '.thread'!r}, 'w').write('x')\n"
        "threading.Thread(target=late).start()\n"
        "from gixs.cli.app import console\n"
        "console()\n")
    res = _run(code, "geometry", "--pixel-um", "100", "--shape", "40", "60",
               "--beam-center-px", "30", "5", "--distance-mm", "200", "--energy-kev",
               "12.398", "-o", str(poni), "--no-plot")
    assert res.returncode == 0, res.stderr
    assert "Fit2D view: direct distance 200.000 mm" in res.stdout
    assert res.stdout.rstrip().endswith("atexit ran")
    assert (tmp_path / "g.poni.thread").read_text() == "x"
    assert "Distance: 0.2" in poni.read_text()


def test_console_keeps_the_exit_status_of_a_user_error(tmp_path):
    res = _run("from gixs.cli.app import console; console()", "geometry", "--show",
               str(tmp_path / "missing.poni"))
    assert res.returncode == 2
    assert "gixs geometry: error:" in res.stderr and "missing.poni" in res.stderr


@pytest.mark.parametrize("body, status, text", [
    ("raise ZeroDivisionError('boom')", 1, "ZeroDivisionError: boom"),
    ("raise SystemExit(3)", 3, ""),
    ("raise SystemExit('stopped')", 1, "stopped"),
])
def test_console_reports_what_main_does_not_handle(body, status, text):
    """A bug in a command (an exception main does not turn into a message) prints its
    traceback and exits with 1, as Python would; SystemExit keeps its meaning."""
    code = ("import gixs.cli.app as app\n"
            f"def broken(argv=None):\n    {body}\n"
            "app.main = broken\napp.console()\n")
    res = _run(code)
    assert res.returncode == status, res.stderr
    assert text in res.stderr
    if status == 1 and "Error" in text:
        assert "Traceback (most recent call last)" in res.stderr
