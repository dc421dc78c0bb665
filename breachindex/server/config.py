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

__all__ = ["ServerConfig", "CONFIG_ENV"]

CONFIG_ENV = "BREACHINDEX_SERVER_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    """A server's settings.

    ``index``: the index folder (or a symlink to it) that new builds replace; ``key``: its key
    file (also the campaign's secret); ``campaign``: the campaign store (SQLite path).
    ``api_keys``: the API key file (None: no service may call). ``webhook_secret``: a file
    holding the ID provider's webhook secret (None: the webhook answers 503).
    ``export_dir``: where batch exports are written (default: ``exports`` beside the store).
    ``sms_sender``: ``"console"`` (development only: prints codes to stderr), or
    ``"module:callable"`` returning an ``SmsSender``; None: verification answers 503.
    ``secure_cookies``: Secure, ``__Host-`` session cookies (turn off only for plain HTTP in
    development). ``reload_interval``: seconds between checks for a new index generation.
    The ``*_rate`` (tokens a second) and ``*_burst`` fields are the per-worker token buckets of
    the person-facing endpoints. ``body_limit``: the largest request body, in bytes.
    ``require_identity``: the verified view of a check also needs an approved ID check.
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
    check_ip_rate: float = 1.0
    check_ip_burst: int = 30
    check_number_rate: float = 0.1
    check_number_burst: int = 10
    person_ip_rate: float = 0.5
    person_ip_burst: int = 20
    require_identity: bool = False
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.reload_interval <= 0:
            raise ValueError("reload_interval must be positive")
        if not 1024 <= self.body_limit <= 1 << 20:
            raise ValueError("body_limit must be between 1 KiB and 1 MiB")

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
