"""Where the repository and the linked ``../shared`` folder are, for fixtures that read files at runtime.

The fixtures are installed in editable mode from ``services/``, so the repository is two levels up.
``CENTRALITA_SHARED_DIR`` points elsewhere when ``shared`` is not next to the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CENTRALITA_SHARED_DIR", REPO_ROOT.parent / "shared"))
