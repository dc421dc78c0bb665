"""Fixtures every test shares."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _library_logs_reach_caplog(monkeypatch):
    """A server built in a test (even in an earlier module) sends the library's logs to its own
    JSON handler and stops them propagating, as a real server should; every test starts with
    them propagating again, so that caplog sees the library's records."""
    for name in ("breachindex", "breachindex.server"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
