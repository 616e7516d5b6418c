"""Where the real-data tests find the shared annotation files (QVHighlights, Charades-STA, TACoS).

``$VTG_REAL_DATA`` when set, else ``../shared/data`` beside the clone. A test whose files are not there skips.
"""

from __future__ import annotations

import os
from pathlib import Path

REAL_DATA = Path(os.environ.get("VTG_REAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
