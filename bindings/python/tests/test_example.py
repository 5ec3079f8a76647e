"""The example runs (so it never rots) and reports a result that matches NumPy."""
import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "moe_layer.py"


def test_example_runs():
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max |moekit - numpy|" in proc.stdout and "fp8 round trip" in proc.stdout
