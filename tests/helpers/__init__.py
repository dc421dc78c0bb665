"""What several test rooms share: the repository's root, and modules by subject (``mandate_texts``:
test mandate templates; ``campaign``: numbers, campaign stores, enrolling participants and signing
mandates; ``server``: the sandbox's number, reading API errors and confirming a code as the page
does (imports Starlette); ``vault``: cheap key derivation; ``smtp``: a real SMTP server on loopback
(imports aiosmtpd); ``browser``: headless Chromium (imports Selenium)). Fixtures live in conftest.py
files (``sender``: tests/campaign/conftest.py). ``tests/`` is on ``sys.path`` (``pythonpath`` in
pyproject.toml)."""
from __future__ import annotations

from pathlib import Path

#: the repository's root folder
REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO"]
