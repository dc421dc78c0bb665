"""The exception tree. Every error breachindex raises on purpose is a ``BreachIndexError``.

    BreachIndexError
    ├── InvalidPhoneNumber (also ValueError)   input is not a possible phone number
    ├── InvalidKey (also ValueError)           a secret or key file that cannot be used
    ├── WrongKey                               the key is not the one the index was built with
    ├── IndexCorrupted                         an index file is missing, damaged or inconsistent
    ├── BuildError                             build() was asked for something it cannot do
    ├── NativeError                            the compiled core is missing, stale or failed
    └── CampaignError                          the campaign workflow (breachindex.campaign) refused
        ├── CodeInvalid                        a wrong, unknown, used or replaced one-time code
        │   └── CodeExpired                    the code's lifetime is over (same message and shape)
        ├── TooManyAttempts                    the code is burned (3 wrong tries) or the number locked
        ├── Throttled                          a rate limit or a growing wait: ``retry_after`` seconds
        ├── SmsNotAllowed                      the number's country or type may not receive a code
        ├── SmsSendFailed                      the SMS sender (the gateway) raised
        ├── UnknownParticipant (also LookupError)  no such participant in the campaign store
        ├── WebhookRejected                    a webhook whose signature, time or body does not hold
        ├── UnknownController (also ValueError)    a controller that is not in the registry
        ├── InvalidMandate (also ValueError)   scopes, consents or text not those of a published text: ``reason``
        ├── MandateRefused                     the participant may not sign now: ``reason`` says why
        ├── UnknownMandate (also LookupError)  no mandate with that id
        ├── UnknownRequest (also LookupError)  no request with that id
        ├── IllegalTransition                  a request state change the state machine does not allow
        │   └── ExtensionTooLate               an extension announced after the first month
        ├── BatchError                         a batch that cannot be prepared or exported: ``reason``
        ├── CampaignStoreError                 the campaign database cannot be opened or migrated, or is not private
        ├── NotificationFailed                 a channel (SMS, e-mail) did not take a notification: ``channel``
        ├── LetterRefused (also ValueError)    a letter that cannot be written (yet): ``reason``
        └── VaultError                         the encrypted per-person vault (breachindex.vault) refused
            ├── WeakPassphrase (also ValueError)   a new passphrase the policy refuses: ``reason`` (common, ...)
            ├── WrongPassphrase                the passphrase does not open the participant's key
            ├── WrongRecoveryCode              a wrong, malformed or already used recovery code
            ├── VaultNotSetUp (also LookupError)   the participant has no vault key (not yet, or erased)
            ├── VaultRefused                   set-up refused: ``reason`` not_verified or already_set_up
            ├── UnknownItem (also LookupError) no such item (for that participant)
            ├── VaultConflict                  the key was changed by someone else meanwhile: try again
            └── VaultCorrupted                 key material or the vault folder fails a check: ``reason``
                └── ItemTampered               an item file fails a check: ``item``, ``reason``

Messages never contain a phone number, a one-time code or a name: exceptions end up in logs.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

__all__ = [
    "BreachIndexError",
    "InvalidPhoneNumber",
    "InvalidKey",
    "LetterRefused",
    "NotificationFailed",
    "WrongKey",
    "IndexCorrupted",
    "BuildError",
    "NativeError",
    "CampaignError",
    "CodeInvalid",
    "CodeExpired",
    "TooManyAttempts",
    "Throttled",
    "SmsNotAllowed",
    "SmsSendFailed",
    "UnknownParticipant",
    "WebhookRejected",
    "UnknownController",
    "InvalidMandate",
    "MandateRefused",
    "UnknownMandate",
    "UnknownRequest",
    "IllegalTransition",
    "ExtensionTooLate",
    "BatchError",
    "CampaignStoreError",
    "VaultError",
    "WeakPassphrase",
    "WrongPassphrase",
    "WrongRecoveryCode",
    "VaultNotSetUp",
    "VaultRefused",
    "UnknownItem",
    "VaultConflict",
    "VaultCorrupted",
    "ItemTampered",
]


class BreachIndexError(Exception):
    """Base class of every error breachindex raises on purpose."""

    code: ClassVar[str] = "error"


class InvalidPhoneNumber(BreachIndexError, ValueError):
    """The input does not parse into a possible phone number.

    ``reason`` is a stable, machine-readable code (``not_a_number``, ``missing_region``,
    ``unknown_region``, ``invalid_country_code``, ``too_short``, ``too_long``,
    ``invalid_length``, ``not_text``); the message explains it without repeating the number.
    """

    code: ClassVar[str] = "invalid_phone_number"

    def __init__(self, reason: str, message: str, *, position: int | None = None) -> None:
        if position is not None:
            message = f"number at position {position}: {message}"
        super().__init__(message)
        self.reason = reason
        self.position = position


class InvalidKey(BreachIndexError, ValueError):
    """A secret that is too short, or a key file that is unreadable, malformed or too open."""

    code: ClassVar[str] = "invalid_key"


class WrongKey(BreachIndexError):
    """The key given does not match the fingerprint recorded in the index's manifest."""

    code: ClassVar[str] = "wrong_key"


class IndexCorrupted(BreachIndexError):
    """An index file is missing, truncated, damaged or inconsistent with the manifest.

    ``file`` names the file (relative to the index folder) and ``problem`` says what is wrong.
    """

    code: ClassVar[str] = "index_corrupted"

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


class BuildError(BreachIndexError):
    """build() cannot produce the index asked for (bad names, limits, an existing folder)."""

    code: ClassVar[str] = "build_error"


class NativeError(BreachIndexError):
    """The compiled core is missing or of another version, or reported an unexpected failure."""

    code: ClassVar[str] = "native_error"


# ---- the campaign workflow (breachindex.campaign) ------------------------------------------

class CampaignError(BreachIndexError):
    """Base class of the errors of the campaign workflow (``breachindex.campaign``): codes, the
    ID gate, mandates, requests and batches."""

    code: ClassVar[str] = "campaign_error"


_CODE_INVALID_MESSAGE = "the code is wrong or no longer valid; request a new code if needed"


class CodeInvalid(CampaignError):
    """The code does not confirm the challenge: wrong, unknown challenge, already used, replaced.

    One shape for every case on purpose (NIST SP 800-63B, OWASP): the same message and no
    attributes, so an answer never tells a wrong code from an unknown challenge.
    """

    code: ClassVar[str] = "code_invalid"

    def __init__(self) -> None:
        super().__init__(_CODE_INVALID_MESSAGE)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


class CodeExpired(CodeInvalid):
    """The challenge's lifetime is over (checked before the code is compared).

    A subclass of CodeInvalid with the identical message and attributes: code that catches
    CodeInvalid answers both alike; only the class name differs, for the operator's metrics.
    """

    code: ClassVar[str] = "code_invalid"  # the same answer as a wrong code, on purpose


class TooManyAttempts(CampaignError):
    """The code is burned (``reason='code_burned'``: too many wrong tries) or the number is
    locked (``reason='number_locked'``: too many consecutive failures; an operator unlocks it).

    ``retry_after`` is the number of seconds before a new code may be requested, when known
    (None while the number is locked).
    """

    code: ClassVar[str] = "too_many_attempts"

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        if reason == "number_locked":
            message = "too many failed attempts: this number is locked until an operator unlocks it"
        else:
            message = "too many wrong tries: this code no longer works, request a new one"
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.retry_after))


class Throttled(CampaignError):
    """Too many requests: wait ``retry_after`` seconds. ``reason`` names the limit that applies
    (``resend_interval``, ``failure_wait``, ``number_per_hour``, ``ip_per_hour``, ...)."""

    code: ClassVar[str] = "throttled"

    def __init__(self, retry_after: float, reason: str) -> None:
        retry_after = max(0.0, float(retry_after))
        super().__init__(f"too many requests ({reason}): try again in {math.ceil(retry_after)} s")
        self.retry_after = retry_after
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.retry_after, self.reason))


class SmsNotAllowed(CampaignError):
    """The number may not receive a code. ``reason``: ``country_not_allowed``, ``premium_rate``,
    ``shared_cost``, ``invalid_number`` or ``number_type_not_allowed``."""

    code: ClassVar[str] = "sms_not_allowed"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class SmsSendFailed(CampaignError):
    """The SMS sender raised; the code was withdrawn (the attempt still counts toward limits)."""

    code: ClassVar[str] = "sms_send_failed"


class NotificationFailed(CampaignError):
    """A channel did not take a notification (the gateway or SMTP server refused or was
    unreachable). ``channel``: ``sms`` or ``email``. The message never names the address."""

    code: ClassVar[str] = "notification_failed"

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(message)
        self.channel = channel

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.channel, str(self)))


class LetterRefused(CampaignError, ValueError):
    """A letter that cannot be written (yet). ``reason``: ``unknown_language``, ``unknown_batch``,
    ``no_request``, ``several_controllers`` or ``not_overdue``."""

    code: ClassVar[str] = "letter_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class UnknownParticipant(CampaignError, LookupError):
    """No participant with that id in the campaign store (or nothing stored for it yet)."""

    code: ClassVar[str] = "unknown_participant"


class WebhookRejected(CampaignError):
    """A webhook that is not believed. ``reason``: ``malformed_header``, ``bad_signature``,
    ``stale``, ``malformed_body``, ``unknown_status`` or ``unknown_participant``."""

    code: ClassVar[str] = "webhook_rejected"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class UnknownController(CampaignError, ValueError):
    """A controller key that is not in the campaign's registry (``breachindex.campaign.controllers``)."""

    code: ClassVar[str] = "unknown_controller"


class InvalidMandate(CampaignError, ValueError):
    """A mandate that cannot be recorded as given. ``reason``: ``unknown_template`` (no
    published text of that version), ``text_not_template`` (the text is not that version's
    text for the controller), ``scopes_not_in_text`` (the scopes are not exactly those the
    text authorises), ``consents_not_in_text`` (the boxes ticked are not those the text
    shows), or ``malformed`` (an unknown scope or consent, an empty text, malformed evidence,
    a bad signer name)."""

    code: ClassVar[str] = "invalid_mandate"

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_invalid_mandate, (str(self), self.reason))


class MandateRefused(CampaignError):
    """The participant may not sign a mandate now. ``reason``: ``not_verified`` (no code
    confirmed within the check policy's ``verified_for``), ``identity_not_approved`` (the
    latest ID check is not ``approved``, or there is none), ``no_signer_name`` (no name given
    and the ID check confirmed none), ``already_active`` (an active mandate for the same
    controller exists: revoke it first)."""

    code: ClassVar[str] = "mandate_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class UnknownMandate(CampaignError, LookupError):
    """No mandate with that id in the campaign store."""

    code: ClassVar[str] = "unknown_mandate"


class UnknownRequest(CampaignError, LookupError):
    """No request with that id in the campaign store."""

    code: ClassVar[str] = "unknown_request"


class IllegalTransition(CampaignError):
    """A request cannot move from ``from_state`` to ``to_state``. ``reason``: ``not_allowed``
    (the transition table has no such move), ``not_due`` (marking a request overdue before its
    due date has passed), ``not_received`` (an extension for a request never sent)."""

    code: ClassVar[str] = "illegal_transition"

    def __init__(self, from_state: str, to_state: str, reason: str = "not_allowed", message: str | None = None) -> None:
        if message is None:
            message = f"a request cannot move from {from_state} to {to_state}"
        super().__init__(message)
        self.from_state = from_state
        self.to_state = to_state
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.from_state, self.to_state, self.reason, str(self)))


class ExtensionTooLate(IllegalTransition):
    """An extension announced after the first month (Art. 12(3) GDPR): it is not valid, so the
    request keeps its one-month due date. ``deadline``: the last day it could be announced."""

    code: ClassVar[str] = "extension_too_late"

    def __init__(self, from_state: str, deadline: Any) -> None:
        super().__init__(from_state, "extended", "extension_too_late",
                         f"an extension must be announced by {deadline} (within one month of receipt)")
        self.deadline = deadline

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.from_state, self.deadline))


class BatchError(CampaignError):
    """A batch that cannot be prepared or exported. ``reason``: ``unknown_batch``, ``empty`` (no
    participant qualifies, or none is left to export), ``already_exported``, ``exists`` (the
    export folder exists: never overwritten), ``no_folder`` (its parent folder does not exist)."""

    code: ClassVar[str] = "batch_error"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class CampaignStoreError(CampaignError):
    """The campaign database cannot be used: unsupported URL, newer schema, foreign file, or a
    database file (or its ``-wal``, ``-shm``, ``-journal``) open to other users: the message says
    to ``chmod 600`` it."""

    code: ClassVar[str] = "campaign_store_error"


# ---- the vault (breachindex.vault) ---------------------------------------------------------

class VaultError(CampaignError):
    """Base class of the errors of the encrypted per-person vault (``breachindex.vault``)."""

    code: ClassVar[str] = "vault_error"


class WeakPassphrase(VaultError, ValueError):
    """A new passphrase the policy refuses. ``reason``: ``not_text`` (not a str, or not
    encodable as UTF-8), ``too_short``, ``too_long``, ``same_as_old``, ``common`` (a value of the
    blocklist once case, digits and symbols at either end, separators, letter-for-digit swaps
    and repetition are taken away: ``Password1234!``), ``context`` (words about this service or
    campaign with digits: ``Facebook2021!``), ``repetitive`` (one character or a short part
    repeated) or ``sequence`` (alphabet, digit or keyboard runs: ``qwerty123456``); see
    ``breachindex.vault.passphrases``. The message says the rule, never the passphrase."""

    code: ClassVar[str] = "weak_passphrase"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class WrongPassphrase(VaultError):
    """The passphrase does not unwrap the participant's private key (wrong, or the wrapped key
    was altered: the two cannot be told apart)."""

    code: ClassVar[str] = "wrong_passphrase"


class WrongRecoveryCode(VaultError):
    """The recovery code does not unwrap the participant's key: wrong, mistyped, or already
    used (a code works once; recovering issues a new one)."""

    code: ClassVar[str] = "wrong_recovery_code"


class VaultNotSetUp(VaultError, LookupError):
    """The participant has no vault key: never set up, or erased."""

    code: ClassVar[str] = "vault_not_set_up"


class VaultRefused(VaultError):
    """A vault key may not be set up now. ``reason``: ``not_verified`` (no one-time code
    confirmed within the check policy's ``verified_for``: whoever sets the passphrase owns
    what arrives later), ``already_set_up`` (change the passphrase or recover instead)."""

    code: ClassVar[str] = "vault_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class UnknownItem(VaultError, LookupError):
    """No vault item with that id (for that participant)."""

    code: ClassVar[str] = "unknown_item"


class VaultConflict(VaultError):
    """The participant's wrapped key changed between reading and writing it (another passphrase
    change, recovery or erasure ran at the same time); nothing was changed: try again."""

    code: ClassVar[str] = "vault_conflict"


class VaultCorrupted(VaultError):
    """Key material or the vault folder fails a check. ``reason``: ``key_mismatch`` (an
    unwrapped private key does not match the stored public key), ``bad_kdf_params`` (stored
    Argon2id parameters out of bounds), ``foreign_folder`` (the folder belongs to another
    campaign store, or is not a vault), ``too_open`` (the vault folder, ``items/`` or a bucket
    folder is open to other users: refused, not tightened, as its files may have been read;
    ``chmod -R go-rwx`` it), ``missing_file`` (an item's file is gone), and for
    ``ItemTampered`` the reasons listed there."""

    code: ClassVar[str] = "vault_corrupted"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class ItemTampered(VaultCorrupted):
    """An item file fails a check, so it is refused. ``item``: the item id. ``reason``:
    ``missing_file``, ``size_mismatch`` (truncated or extended), ``bad_magic``,
    ``unsupported_version``, ``bad_header``, ``wrong_item`` (the file of another item),
    ``wrong_key`` (sealed to another participant's key, or its sealed data key was altered),
    ``bad_chunk`` (a chunk altered, reordered, dropped, duplicated or from another file),
    ``truncated`` (no final chunk), ``trailing_data`` (bytes after a full-size final chunk; after
    a shorter one they make it fail as ``bad_chunk``),
    ``hash_mismatch`` (not the ciphertext recorded when it was stored), ``log_mismatch``
    (the item's row disagrees with its audit-log entry)."""

    code: ClassVar[str] = "item_tampered"

    def __init__(self, item: str, reason: str, message: str) -> None:
        super().__init__(reason, f"vault item {item}: {message}")
        self.item = item

    def __reduce__(self) -> tuple[Any, ...]:
        message = str(self)
        prefix = f"vault item {self.item}: "
        return (type(self), (self.item, self.reason, message[len(prefix):] if message.startswith(prefix) else message))


def _rebuild_invalid_mandate(message: str, reason: str) -> InvalidMandate:
    return InvalidMandate(message, reason=reason)
