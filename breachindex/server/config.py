"""What a server is started with: paths, limits, and the development switches.

``ServerConfig`` travels to uvicorn's worker processes as JSON in the environment variable
``BREACHINDEX_SERVER_CONFIG`` (paths and numbers only, never a secret: the secrets stay in
their files).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..campaign.store import is_postgresql_url

__all__ = ["ServerConfig", "CONFIG_ENV"]

CONFIG_ENV = "BREACHINDEX_SERVER_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    """A server's settings.

    ``index``: the index folder (or a symlink to it) that new builds replace; ``key``: its key
    file (also the campaign's secret); ``campaign``: the campaign store (SQLite path).
    ``api_keys``: the API key file, or the campaign store's URL for keys every host shares
    (None: no service may call). ``webhook_secret``: a file
    holding the ID provider's webhook secret (None: the webhook answers 503).
    ``export_dir``: where batch exports are written (default: ``exports`` beside the store).
    ``sms_sender``: ``"console"`` (development only: prints codes to stderr), or
    ``"module:callable"`` returning an ``SmsSender``; None: verification answers 503.
    ``secure_cookies``: Secure, ``__Host-`` session cookies (turn off only for plain HTTP in
    development). ``reload_interval``: seconds between checks for a new index generation.
    The ``*_rate`` (tokens a second) and ``*_burst`` fields are the token buckets of the
    page's calls, shared by every worker (``budgets``): ``check_ip``/``check_site``/
    ``check_network`` per requester at each network level, ``check_global`` for all
    unauthenticated checks together, ``check_number`` per number checked, ``person_ip`` and
    ``person_network`` for the page's other calls. ``puzzle_bits`` (0: off),
    ``puzzle_max_extra_bits`` and ``puzzle_ttl``: the page's puzzles (``puzzles``).
    ``body_limit``: the largest request body, in bytes. ``vault``: the vault folder (None: the
    vault routes answer 503); ``vault_upload_limit``: the largest answer an operator may stream
    into it (bytes, 8 GiB); ``vault_kdf_*``: the Argon2id cost of new passphrase wraps (RFC 9106's
    second recommendation: 3 passes, 64 MiB, 4 lanes; each unwrap takes that memory);
    ``vault_unlock_*``: tries of a participant's passphrase or recovery code (10, then 1 a minute).
    Notifications (``campaign.notifications``) go out when ``page_url`` (the link in every
    message) is set: by SMS through the SMS sender, and by e-mail through ``smtp_host`` (with
    ``smtp_sender`` as From; a login reads its password from ``smtp_password_file``).
    ``letters_sender``: the JSON file of who writes the lawyer's letters (None: no letters over HTTP).
    ``require_identity``: the verified view of a check also needs an approved ID check;
    ``details_require_identity``: the leaked values in it do (the default).
    """

    index: str
    key: str
    campaign: str
    api_keys: str | None = None
    webhook_secret: str | None = None
    export_dir: str | None = None
    sms_sender: str | None = None
    secure_cookies: bool = True
    reload_interval: float = 1.0
    access: str = "random"
    prefault: bool = False
    lock: bool = False
    body_limit: int = 16 * 1024
    vault: str | None = None
    vault_upload_limit: int = 8 << 30
    vault_kdf_time_cost: int = 3
    vault_kdf_memory_kib: int = 64 * 1024
    vault_kdf_parallelism: int = 4
    vault_unlock_rate: float = 1 / 60
    vault_unlock_burst: int = 10
    page_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_sender: str | None = None
    smtp_username: str | None = None
    smtp_password_file: str | None = None
    smtp_starttls: bool = True
    letters_sender: str | None = None
    check_ip_rate: float = 0.05
    check_ip_burst: int = 30
    check_site_rate: float = 0.1
    check_site_burst: int = 60
    check_network_rate: float = 0.5
    check_network_burst: int = 300
    check_global_rate: float = 50.0
    check_global_burst: int = 3000
    check_number_rate: float = 0.1
    check_number_burst: int = 10
    person_ip_rate: float = 0.5
    person_ip_burst: int = 60
    person_network_rate: float = 5.0
    person_network_burst: int = 600
    puzzle_bits: int = 12
    puzzle_max_extra_bits: int = 4
    puzzle_ttl: float = 120.0
    require_identity: bool = False
    details_require_identity: bool = True
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.reload_interval <= 0:
            raise ValueError("reload_interval must be positive")
        if not 1024 <= self.body_limit <= 1 << 20:
            raise ValueError("body_limit must be between 1 KiB and 1 MiB")
        if self.smtp_host is not None and (self.page_url is None or self.smtp_sender is None):
            raise ValueError("e-mail notifications need page_url and smtp_sender")
        if not 1 <= self.vault_upload_limit <= 1 << 40:
            raise ValueError("vault_upload_limit must be between 1 byte and 1 TiB")
        if is_postgresql_url(self.campaign) and not self.export_dir:
            raise ValueError("export_dir is needed with a PostgreSQL campaign store (there is no store folder)")
        for name in ("check_ip", "check_site", "check_network", "check_global", "check_number", "person_ip",
                     "person_network", "vault_unlock"):
            rate, burst = getattr(self, f"{name}_rate"), getattr(self, f"{name}_burst")
            if not rate > 0 or not burst >= 1:
                raise ValueError(f"{name}: the rate must be positive and the burst at least 1")

    @property
    def exports(self) -> Path:
        """The folder batch exports go to."""
        return Path(self.export_dir) if self.export_dir else Path(self.campaign).resolve().parent / "exports"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_environment(cls) -> ServerConfig:
        text = os.environ.get(CONFIG_ENV)
        if not text:
            raise RuntimeError(f"{CONFIG_ENV} is not set: start the server with `breachindex serve`")
        return cls.from_json(text)
