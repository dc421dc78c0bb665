"""Everything a request handler needs, opened once per worker process: ``ServerState``."""
from __future__ import annotations

import hashlib
import hmac
import importlib
import ipaddress
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..campaign import Campaign, CheckPolicy, ConsoleSender, SmsSender
from ..secret import Key, as_key
from .auth import ApiKeyStore
from .config import ServerConfig
from .generations import IndexGenerations
from .logs import LOGGER_NAME, log_event
from .ratelimit import BucketRule, RateLimiter
from .sessions import SessionSigner

__all__ = ["ServerState", "load_sender", "read_webhook_secret"]

log = logging.getLogger(LOGGER_NAME)


def load_sender(spec: str | None) -> SmsSender | None:
    """The SMS sender named by ``spec``: ``console``, ``module:callable``, or None."""
    if spec is None:
        return None
    if spec == "console":
        log_event(log, logging.WARNING, "development_sms_sender",
                  note="codes are printed to stderr: never use this in production")
        return ConsoleSender()
    module_name, sep, attr = spec.partition(":")
    if not sep:
        raise ValueError("sms_sender is 'console' or 'module:callable'")
    factory = getattr(importlib.import_module(module_name), attr)
    sender = factory()
    if not isinstance(sender, SmsSender):
        raise TypeError("the sms_sender factory must return an object with send(e164, text)")
    return sender


def read_webhook_secret(path: str | None) -> bytes | None:
    """The ID provider's webhook secret from its file (one line of text; mode 0600)."""
    if path is None:
        return None
    p = Path(path)
    if os.name == "posix" and p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError("the webhook secret file is readable by others: chmod 600 it")
    secret = p.read_text(encoding="utf-8").strip().encode("utf-8")
    if len(secret) < 16:
        raise ValueError("the webhook secret must have at least 16 bytes")
    return secret


@dataclass
class ServerState:
    """The opened index generations, campaign, keys, session signer and rate limiters."""

    config: ServerConfig
    key: Key
    generations: IndexGenerations
    campaign: Campaign
    api_keys: ApiKeyStore
    sessions: SessionSigner
    sender: SmsSender | None
    webhook_secret: bytes | None
    check_ip: RateLimiter
    check_number: RateLimiter
    person_ip: RateLimiter
    _number_key: bytes

    @classmethod
    def open(cls, config: ServerConfig, *, sender: SmsSender | None = None) -> ServerState:
        """Open everything ``config`` names. ``sender`` overrides ``config.sms_sender`` (tests)."""
        key = as_key(config.key)
        generations = IndexGenerations(config.index, key=key, access=config.access, interval=config.reload_interval,
                                       prefault=config.prefault, lock=config.lock)
        chosen = sender if sender is not None else load_sender(config.sms_sender)
        policy = CheckPolicy(require_identity=config.require_identity)
        try:
            # without a sender the campaign still serves checks, mandates and requests; verification answers 503
            campaign = Campaign(config.campaign, secret=key, sender=chosen or ConsoleSender(), policy=policy)
        except BaseException:
            generations.close()
            raise
        return cls(
            config=config, key=key, generations=generations, campaign=campaign,
            api_keys=ApiKeyStore(config.api_keys),
            sessions=SessionSigner(key.subkey(b"bi.srv-session"), max_age=policy.verified_for.total_seconds(),
                                   secure=config.secure_cookies),
            sender=chosen, webhook_secret=read_webhook_secret(config.webhook_secret),
            check_ip=RateLimiter(BucketRule(config.check_ip_rate, config.check_ip_burst)),
            check_number=RateLimiter(BucketRule(config.check_number_rate, config.check_number_burst)),
            person_ip=RateLimiter(BucketRule(config.person_ip_rate, config.person_ip_burst)),
            _number_key=key.subkey(b"bi.srv-ratenum"),
        )

    def number_subject(self, text: str) -> str:
        """A rate-limit subject for a number as typed (a keyed hash: no number in memory)."""
        return hmac.new(self._number_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def ip_subject(host: str | None) -> str:
        """A rate-limit subject for a client address: the address (IPv4) or its /64 (IPv6)."""
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return "unknown"
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def close(self) -> None:
        self.campaign.close()
        self.generations.close()
