"""The benchmark scripts a user runs by hand answer a mistake as the vtg commands do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lava_vs_torch_refuses_a_missing_bundle_in_one_line(tmp_path):
    script = ROOT / "benchmarks" / "lava_vs_torch.py"
    done = subprocess.run(
        [sys.executable, str(script), "--bundle", str(tmp_path / "none"), "--data", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"lava_vs_torch: error: {tmp_path / 'none'}")
