"""The check: what a lookup may tell, to whom (``CheckPolicy``), and its answer (``CheckResult``).

Two views, chosen before the index is read and filled by one code path:

* ``public``: anyone asking about any number learns whether it is in the index and in which
  breaches; ``data_classes`` and ``details`` are None whether the number was found or not, so
  the answer has the same shape either way;
* ``verified``: the person asking proved, by a one-time code, that they own this very number
  (their participant id is the keyed hash of the number checked) within ``verified_for``
  (24 hours by default), and, if ``require_identity``, passed an ID check. They also learn the
  data classes of their record and, if the index was built with ``--details`` and their latest
  ID check is ``approved`` (``details_require_identity``, the default), the leaked values
  themselves. A code proves only who holds the number *today*: a recycled number or a
  swapped SIM would otherwise show a stranger the previous holder's name, e-mail address and
  birth date. Without that ID check ``details`` is None and ``details_withheld`` is True.
  A participant id that does not belong to the number gets the public view,
  never an error (an error would tell that the id is not the number's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from .clock import MICROSECOND
from .db import Db
from .identity import latest_identity_check

if TYPE_CHECKING:
    from ..index.reader import Index

__all__ = ["CheckPolicy", "CheckResult", "Disclosure", "evaluate", "owner_view", "verified_now"]

Disclosure = Literal["public", "verified"]


@dataclass(frozen=True)
class CheckPolicy:
    """What each view reveals. The defaults are the issue's policy.

    ``public_breaches``: the public view names the breaches (else only ``found``).
    ``verified_data_classes`` / ``verified_details``: what the verified view adds.
    ``verified_for``: how long after a confirmed code the verified view is given.
    ``require_identity``: the verified view also needs an approved ID check (latest outcome).
    ``details_require_identity``: the leaked values need an approved ID check (the data
    classes stay behind the code alone).
    """

    public_breaches: bool = True
    verified_data_classes: bool = True
    verified_details: bool = True
    verified_for: timedelta = timedelta(hours=24)
    require_identity: bool = False
    details_require_identity: bool = True

    def __post_init__(self) -> None:
        if self.verified_for <= timedelta(0):
            raise ValueError("verified_for must be positive")


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``Campaign.check``; it never holds the number checked.

    ``found``: the number is in the index. ``breaches``: their names (empty when not found, or
    when the policy hides them). ``data_classes``: the record's data classes in the verified
    view (empty when not found), else None. ``details``: in the verified view of an index built
    with ``--details``, per record its breach and leaked field values (empty when not found);
    else None. ``details`` is left out of ``repr`` (it is the leaked data itself).
    ``disclosure``: ``"public"`` or ``"verified"``. ``details_withheld``: the index has the
    values and the verified view would show them, but they need an approved ID check first.
    """

    found: bool
    breaches: tuple[str, ...]
    data_classes: frozenset[str] | None
    details: list[dict[str, Any]] | None = field(repr=False, hash=False)
    disclosure: Disclosure
    details_withheld: bool = False


def evaluate(index: Index, e164: str, disclosure: Disclosure, policy: CheckPolicy, *,
             identity_approved: bool = False) -> CheckResult:
    """Look ``e164`` up and shape the answer for ``disclosure``: the same steps, found or not.
    ``identity_approved``: the participant's latest ID check is ``approved``."""
    match = index.lookup(e164)
    found = match is not None
    breaches: tuple[str, ...] = tuple(match.breaches) if match is not None else ()
    if disclosure != "verified":
        return CheckResult(found, breaches if policy.public_breaches else (), None, None, "public")
    classes: frozenset[str] = frozenset(match.data_classes) if match is not None else frozenset()
    details: list[dict[str, Any]] | None = None
    withheld = False
    if policy.verified_details and index.has_details:
        if policy.details_require_identity and not identity_approved:
            withheld = True
        else:
            details = (index.details(e164) if found else None) or []
    return CheckResult(found, breaches, classes if policy.verified_data_classes else None, details, "verified",
                       withheld)


def verified_now(db: Db, participant: str, t: int, policy: CheckPolicy) -> bool:
    """True if ``participant`` confirmed a code within the policy's ``verified_for`` before ``t``."""
    row = db.execute("SELECT verified_us FROM participants WHERE id = ?", (participant,)).fetchone()
    if row is None or row[0] is None:
        return False
    return t < int(row[0]) + policy.verified_for // MICROSECOND


def owner_view(db: Db, participant: str, t: int, policy: CheckPolicy) -> tuple[bool, bool]:
    """For the participant of the number checked: (may see the verified view, latest ID check
    approved)."""
    if not verified_now(db, participant, t, policy):
        return False, False
    latest = latest_identity_check(db, participant)
    approved = latest is not None and latest.status == "approved"
    return (approved or not policy.require_identity), approved
