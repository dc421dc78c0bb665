"""The HTTP API's tests: the sandbox's known number and reading error bodies. Imports
Starlette (through ``breachindex.server``): import it after ``pytest.importorskip("starlette")``."""
from __future__ import annotations

from typing import Any

from breachindex.server.schemas import ERROR
from breachindex.server.validation import validate

#: Anneke, a number in the sandbox leak (``breachindex.server.testing``)
ANNEKE = "+31612340001"
#: the header of a JSON body
JSON = {"Content-Type": "application/json"}


def code_of(response: Any) -> tuple[int, str]:
    """The status and error code of a JSON error ``response``, checked against the published schema."""
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert validate(body, ERROR) is None, body
    return response.status_code, body["error"]["code"]
