"""``POST /v1/puzzles``: a puzzle for the page's next check or code request (``puzzles``).

The difficulty is chosen when the puzzle is issued, from how much of the global budget of
unauthenticated checks is spent (``ServerBudgets.used``), and signed into the challenge.
"""
from __future__ import annotations

from datetime import datetime, timezone

from .routing import Call, Reply
from .views import iso_time

__all__ = ["new_puzzle"]


async def new_puzzle(call: Call) -> Reply:
    state = call.state
    rules = state.puzzles.rules
    bits = rules.bits_for(state.budgets.used()) if rules.enabled else 0
    puzzle = state.puzzles.issue(call.body["purpose"], bits)
    return Reply({"challenge": puzzle.challenge, "bits": puzzle.bits, "algorithm": "sha256-leading-zero-bits",
                  "expires_at": iso_time(datetime.fromtimestamp(puzzle.expires_at, timezone.utc))})
