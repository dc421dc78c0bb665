"""Everything a request handler needs, opened once per worker process: ``ServerState``."""
from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from ..campaign import Campaign, CheckPolicy, ConsoleSender, SmsSender
from ..campaign.channels import Channel, SmsChannel, SmtpChannel
from ..campaign.networks import Origin, origin_of
from ..campaign.notifications import Notifier
from ..keying.secret import Key, as_key
from ..vault import KdfParams, Vault
from .auth import ApiKeyStore
from .budgets import ServerBudgets
from .config import ServerConfig
from .generations import IndexGenerations
from .logs import LOGGER_NAME, log_event
from .metrics import ServerMetrics
from .puzzles import PuzzleRules, Puzzles
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


def load_notifier(config: ServerConfig, campaign: Campaign, sender: SmsSender | None) -> Notifier | None:
    """The notifier ``config`` asks for (None without a ``page_url``)."""
    if config.page_url is None:
        return None
    channels: list[Channel] = [] if sender is None else [SmsChannel(sender)]
    if config.smtp_host is not None:
        assert config.smtp_sender is not None  # checked by ServerConfig
        password = None
        if config.smtp_password_file is not None:
            password = Path(config.smtp_password_file).read_text(encoding="utf-8").strip()
        channels.append(SmtpChannel(config.smtp_host, config.smtp_port, sender=config.smtp_sender,
                                    username=config.smtp_username, password=password,
                                    starttls=config.smtp_starttls))
    return Notifier(campaign, channels, page_url=config.page_url)


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
    """The opened index generations, campaign, keys, session signer, shared budgets and puzzles."""

    config: ServerConfig
    key: Key
    generations: IndexGenerations
    campaign: Campaign
    api_keys: ApiKeyStore
    sessions: SessionSigner
    sender: SmsSender | None
    webhook_secret: bytes | None
    budgets: ServerBudgets
    puzzles: Puzzles
    _number_key: bytes
    vault: Vault | None = None
    notifier: Notifier | None = None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)

    @classmethod
    def open(cls, config: ServerConfig, *, sender: SmsSender | None = None,
             metrics: ServerMetrics | None = None) -> ServerState:
        """Open everything ``config`` names. ``sender`` overrides ``config.sms_sender`` (tests);
        ``metrics`` counts the SMS the campaign and the notifier hand to it (``metrics``)."""
        counts = metrics if metrics is not None else ServerMetrics()
        key = as_key(config.key)
        generations = IndexGenerations(config.index, key=key, access=config.access, interval=config.reload_interval,
                                       prefault=config.prefault, lock=config.lock)
        chosen = sender if sender is not None else load_sender(config.sms_sender)
        policy = CheckPolicy(require_identity=config.require_identity,
                             details_require_identity=config.details_require_identity)
        try:
            # without a sender the campaign still serves checks, mandates and requests; verification answers 503
            campaign = Campaign(config.campaign, secret=key, sender=counts.counted(chosen or ConsoleSender(), "code"),
                                policy=policy)
        except BaseException:
            generations.close()
            raise
        try:
            budgets = campaign.open_budgets()
            return cls(
                config=config, key=key, generations=generations, campaign=campaign,
                api_keys=ApiKeyStore(config.api_keys),
                sessions=SessionSigner(key.subkey(b"bi.srv-session"), max_age=policy.verified_for.total_seconds(),
                                       secure=config.secure_cookies),
                sender=chosen, webhook_secret=read_webhook_secret(config.webhook_secret),
                budgets=ServerBudgets(config, budgets),
                puzzles=Puzzles(key.subkey(b"bi.srv-puzzle"),
                                PuzzleRules(config.puzzle_bits, config.puzzle_max_extra_bits, config.puzzle_ttl)),
                _number_key=key.subkey(b"bi.srv-ratenum"),
                vault=None if config.vault is None else Vault(campaign, config.vault, kdf=KdfParams(
                    time_cost=config.vault_kdf_time_cost, memory_kib=config.vault_kdf_memory_kib,
                    parallelism=config.vault_kdf_parallelism)),
                notifier=load_notifier(config, campaign,
                                       None if chosen is None else counts.counted(chosen, "notification")),
                metrics=counts,
            )
        except BaseException:
            campaign.close()
            generations.close()
            raise

    def number_subject(self, text: str) -> str:
        """A rate-limit subject for a number as typed (a keyed hash: no number in memory)."""
        return hmac.new(self._number_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def origin(request: Request) -> Origin:
        """Where a request comes from, at every network level (``campaign.networks``): the
        connection's address, or the one a trusted proxy passed on. A missing or unreadable
        address is the shared ``unknown`` origin, never a way around a limit."""
        client = request.client
        return origin_of(None if client is None else client.host)

    def close(self) -> None:
        self.api_keys.close()
        self.budgets.store.close()
        self.campaign.close()
        self.generations.close()
