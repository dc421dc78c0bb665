"""breachindex: is my phone number in the leak, and what of mine is out there?

A keyed, memory-mapped index of breached phone numbers with a C core::

    import breachindex
    key = breachindex.Key.load("secret.key")
    with breachindex.open("fb2021.idx", key=key) as index:
        match = index.lookup("06 12345678", region="NL")

See README.md and docs/: engine.md (the on-disk format), security.md (the threat model),
benchmarks.md.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _moved
from .builder.writer import BuildReport, IndexWriter, build
from .errors import (
    BatchError,
    BreachIndexError,
    BuildError,
    CampaignError,
    CampaignStoreError,
    CodeExpired,
    CodeInvalid,
    ExtensionTooLate,
    IllegalTransition,
    IndexCorrupted,
    InvalidKey,
    InvalidMandate,
    InvalidPhoneNumber,
    ItemTampered,
    MandateRefused,
    NativeError,
    SmsNotAllowed,
    SmsSendFailed,
    Throttled,
    TooManyAttempts,
    UnknownController,
    UnknownItem,
    UnknownMandate,
    UnknownParticipant,
    UnknownRequest,
    VaultConflict,
    VaultCorrupted,
    VaultError,
    VaultNotSetUp,
    VaultRefused,
    WeakPassphrase,
    WebhookRejected,
    WrongKey,
    WrongPassphrase,
    WrongRecoveryCode,
)
from .index.reader import Index, Match, VerifyReport, open_index
from .keying.keys import phone_keys
from .keying.phone import normalize
from .keying.secret import Key

if TYPE_CHECKING:
    from .campaign import (
        AuditReport,
        Batch,
        Campaign,
        CheckResult,
        Evidence,
        Export,
        Mandate,
        RequestRecord,
        TreeHead,
    )
    from .campaign.deadlines import response_due
    from .vault import Vault, VaultItem

open = open_index
_moved.install()

# The workflow's names, loaded on first use: ``import breachindex`` is the engine alone, and an
# engine user never pays for (or needs installed) nacl, argon2, holidays, starlette or uvicorn.
_LAZY = {
    **dict.fromkeys(("AuditReport", "Batch", "Campaign", "CheckResult", "Evidence", "Export", "Mandate",
                     "RequestRecord", "TreeHead"), ".campaign"),
    "Vault": ".vault", "VaultItem": ".vault", "response_due": ".campaign.deadlines",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "Batch",
    "BatchError",
    "BreachIndexError",
    "BuildError",
    "BuildReport",
    "Campaign",
    "CampaignError",
    "CampaignStoreError",
    "CheckResult",
    "CodeExpired",
    "CodeInvalid",
    "Evidence",
    "Export",
    "ExtensionTooLate",
    "IllegalTransition",
    "Index",
    "IndexCorrupted",
    "IndexWriter",
    "InvalidKey",
    "InvalidMandate",
    "InvalidPhoneNumber",
    "ItemTampered",
    "Key",
    "Mandate",
    "MandateRefused",
    "Match",
    "NativeError",
    "RequestRecord",
    "SmsNotAllowed",
    "SmsSendFailed",
    "Throttled",
    "TooManyAttempts",
    "TreeHead",
    "UnknownController",
    "UnknownItem",
    "UnknownMandate",
    "UnknownParticipant",
    "UnknownRequest",
    "Vault",
    "VaultConflict",
    "VaultCorrupted",
    "VaultError",
    "VaultItem",
    "VaultNotSetUp",
    "VaultRefused",
    "VerifyReport",
    "WeakPassphrase",
    "WebhookRejected",
    "WrongKey",
    "WrongPassphrase",
    "WrongRecoveryCode",
    "build",
    "normalize",
    "open",
    "phone_keys",
    "response_due",
    "__version__",
]
