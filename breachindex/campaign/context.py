"""What the parts built on the campaign may use of it: ``WorkflowContext``.

The vault (``breachindex.vault``) keeps its keys and items in the campaign's store, logs in its
audit log, moves its requests and seals with its evidence keys; it gets exactly those, and
the rules it shares (the controllers, the deadline calendar, how long a confirmed code
counts), through this object, never through the ``Campaign``'s private attributes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from .audit import AuditLog
from .calendars import Calendars
from .controllers import Controller
from .db import CampaignDb
from .deadlines import HolidaySpec
from .sealing import EvidenceKeys

__all__ = ["WorkflowContext"]


@dataclass(frozen=True)
class WorkflowContext:
    """The campaign's store, audit log and evidence keys, and the rules a part shares:
    ``controllers`` (the registry), ``holidays`` (the deadline calendars), ``verified_for``
    (how long after a confirmed code a participant counts as verified)."""

    store: CampaignDb
    audit: AuditLog
    evidence: EvidenceKeys
    holidays: HolidaySpec | Calendars
    controllers: Mapping[str, Controller]
    verified_for: timedelta
