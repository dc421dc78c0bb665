"""breachindex: is my phone number in the leak, and what of mine is out there?

A keyed, memory-mapped index of breached phone numbers with a C core::

    import breachindex
    key = breachindex.Key.load("secret.key")
    with breachindex.open("fb2021.idx", key=key) as index:
        match = index.lookup("06 12345678", region="NL")

See README.md for the on-disk format, the threat model and the benchmarks.
"""
from __future__ import annotations

from .campaign import Campaign, CheckResult
from .errors import (
    BreachIndexError,
    BuildError,
    CampaignError,
    CampaignStoreError,
    CodeExpired,
    CodeInvalid,
    IndexCorrupted,
    InvalidKey,
    InvalidPhoneNumber,
    NativeError,
    SmsNotAllowed,
    SmsSendFailed,
    Throttled,
    TooManyAttempts,
    UnknownParticipant,
    WebhookRejected,
    WrongKey,
)
from .index import Index, Match, VerifyReport, open_index
from .keying import phone_keys
from .phone import normalize
from .secret import Key
from .writer import BuildReport, IndexWriter, build

open = open_index

__version__ = "0.1.0"

__all__ = [
    "BreachIndexError",
    "BuildError",
    "BuildReport",
    "Campaign",
    "CampaignError",
    "CampaignStoreError",
    "CheckResult",
    "CodeExpired",
    "CodeInvalid",
    "Index",
    "IndexCorrupted",
    "IndexWriter",
    "InvalidKey",
    "InvalidPhoneNumber",
    "Key",
    "Match",
    "NativeError",
    "SmsNotAllowed",
    "SmsSendFailed",
    "Throttled",
    "TooManyAttempts",
    "UnknownParticipant",
    "VerifyReport",
    "WebhookRejected",
    "WrongKey",
    "build",
    "normalize",
    "open",
    "phone_keys",
    "__version__",
]
