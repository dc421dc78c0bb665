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


def confirm_code(client: Any, sender: Any, phone: str) -> None:
    """Verify ``phone`` as the page does: a code requested (with a solved puzzle when the client
    does not add one itself) and confirmed; the client keeps the session cookie."""
    from breachindex.server.testing import with_puzzle

    started = client.post("/v1/verification/start",
                          json=with_puzzle(client, "/v1/verification/start", {"phone": phone}))
    assert started.status_code == 200, started.text
    confirmed = client.post("/v1/verification/confirm",
                            json={"challenge": started.json()["challenge"], "code": sender.last_code(phone)})
    assert confirmed.status_code == 200, confirmed.text
