"""Fixtures the campaign tests share (their helpers: ``helpers.campaign``)."""
from __future__ import annotations

import pytest

from breachindex.campaign import RecordingSender


@pytest.fixture
def sender() -> RecordingSender:
    """Keeps the messages a campaign sends (``last_code``)."""
    return RecordingSender()
