"""What several test rooms share: the repository's root, and modules by subject (``mandate_texts``:
test mandate templates; ``campaign``: enrolling and signing participants; ``server``: reading API
errors). ``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml)."""
from __future__ import annotations

from pathlib import Path

#: the repository's root folder
REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO"]
