"""``breachindex serve`` and ``breachindex api-key``: start the HTTP server, manage API keys.

``serve_main`` checks the configuration once in the parent process (the index opens with its
key, the campaign store opens, the key and secret files are readable), then hands it to
uvicorn's workers through the environment (``config.CONFIG_ENV``: paths and numbers, never a
secret), and names a private folder for their counters (``metrics.metrics_folder``). Exit codes:
0 after a clean shutdown, 2 for a configuration error.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ..campaign.budgets import read_last_used
from ..campaign.mandates import iso
from ..errors import BreachIndexError
from .auth import (
    DEFAULT_EXPIRY,
    DEFAULT_PER_DAY,
    DEFAULT_PER_SECOND,
    SCOPES,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from .config import CONFIG_ENV, ServerConfig

__all__ = ["serve_main", "api_key_main", "serve_parser", "config_from_args", "check_forwarded_allow_ips"]


_KEYS_HELP = "the key file, or the campaign store's URL (sqlite:///..., postgresql://...): keys every host shares"

def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="breachindex serve",
        description="Serve the check API, the workflow API and the check page over HTTP (uvicorn).")
    p.add_argument("index", nargs="?", help="the index folder, or a symlink to it; new builds are picked up without "
                                            "downtime")
    p.add_argument("--config", help="a TOML file of settings (server/config_file.py): flags given here win")
    p.add_argument("--key", help="the key file of the index (also the campaign's secret)")
    p.add_argument("--campaign", help="the campaign store (SQLite file)")
    p.add_argument("--api-keys", help="the API key file, or the campaign store's URL for keys every host shares "
                                      "(see: breachindex api-key create)")
    p.add_argument("--webhook-secret", help="a file holding the ID provider's webhook secret (mode 0600)")
    p.add_argument("--export-dir", help="where batch exports go (default: exports/ beside the campaign store)")
    p.add_argument("--vault", help="the vault folder: what controllers send back, encrypted per person (default: none, "
                                   "the vault routes answer 503)")
    p.add_argument("--vault-upload-limit", type=int, default=8 << 30, metavar="BYTES",
                   help="the largest answer an operator may stream into the vault, in bytes (8 GiB)")
    p.add_argument("--sms-sender", help="'console' (development: prints codes to stderr) or 'module:callable'")
    p.add_argument("--page-url", help="the check page's address: with it, participants are notified (by SMS, and by "
                                      "e-mail with --smtp-host) when their data arrives, their request is overdue")
    p.add_argument("--smtp-host", help="the SMTP server for e-mail notifications")
    p.add_argument("--smtp-port", type=int, default=587)
    p.add_argument("--smtp-sender", help="the From address of e-mail notifications")
    p.add_argument("--smtp-username")
    p.add_argument("--smtp-password-file", help="a file holding the SMTP password (mode 0600)")
    p.add_argument("--smtp-no-starttls", action="store_true", help="plain SMTP (a local relay only)")
    p.add_argument("--letters-sender", help="a JSON file of who writes the lawyer's letters "
                                            "(name, address, city, email): enables the letter routes")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes sharing the memory-mapped index (1)")
    p.add_argument("--forwarded-allow-ips",
                   help="the reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is "
                        "trusted; '*' is refused: it would let every client choose its own address")
    p.add_argument("--insecure-cookies", action="store_true",
                   help="plain-HTTP session cookies (development only; default: Secure, __Host-)")
    p.add_argument("--reload-interval", type=float, default=1.0, help="seconds between checks for a new index (1)")
    p.add_argument("--require-identity", action="store_true",
                   help="the verified view of a check also needs an approved ID check")
    p.add_argument("--check-ip-rate", type=float, default=0.05,
                   help="page checks a second per address: IPv4 or IPv6 /64 (0.05: one per 20 s)")
    p.add_argument("--check-ip-burst", type=int, default=30)
    p.add_argument("--check-global-rate", type=float, default=50.0,
                   help="unauthenticated checks a second from everyone together (50)")
    p.add_argument("--check-global-burst", type=int, default=3000)
    p.add_argument("--puzzle-bits", type=int, default=12,
                   help="the page's proof of work: leading zero bits of SHA-256 at rest (12; 0 switches it off)")
    p.add_argument("--prefault", action="store_true",
                   help="read the whole index into memory (2 MB pages where possible) before serving, "
                        "and each new generation before it is swapped in (without it, a large index "
                        "is read in by a background thread while it serves)")
    p.add_argument("--lock", action="store_true",
                   help="pin the index in memory (mlock) so that idle spells never let it be reclaimed; "
                        "needs RLIMIT_MEMLOCK above the index's size, or CAP_IPC_LOCK")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(index=args.index, key=args.key, campaign=args.campaign, api_keys=args.api_keys,
                        webhook_secret=args.webhook_secret, export_dir=args.export_dir, sms_sender=args.sms_sender,
                        secure_cookies=not args.insecure_cookies, reload_interval=args.reload_interval,
                        require_identity=args.require_identity, check_ip_rate=args.check_ip_rate,
                        check_ip_burst=args.check_ip_burst, check_global_rate=args.check_global_rate,
                        check_global_burst=args.check_global_burst, puzzle_bits=args.puzzle_bits,
                        prefault=args.prefault, lock=args.lock, log_level=args.log_level, vault=args.vault,
                        vault_upload_limit=args.vault_upload_limit, page_url=args.page_url, smtp_host=args.smtp_host,
                        smtp_port=args.smtp_port, smtp_sender=args.smtp_sender, smtp_username=args.smtp_username,
                        smtp_password_file=args.smtp_password_file, smtp_starttls=not args.smtp_no_starttls,
                        letters_sender=args.letters_sender)


def check_forwarded_allow_ips(value: str | None) -> None:
    """ValueError unless ``value`` lists proxies by address or network: ``*`` (any client may
    name its own address in X-Forwarded-For, and so pick a fresh budget for every request) and
    anything that is not an address or network are refused."""
    if value is None:
        return
    for item in (part.strip() for part in value.split(",")):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError("--forwarded-allow-ips takes the proxies' addresses or networks (e.g. 127.0.0.1 or "
                             "10.0.0.0/8), not '*' or names: a proxy trusted for every client lets each client "
                             "choose its own address, and so escape every limit per network") from None


def _check_config(config: ServerConfig) -> None:
    """Open everything once, so that a mistake is reported here and not by each worker."""
    from .state import ServerState

    ServerState.open(replace(config, sms_sender=None, prefault=False, lock=False)).close()
    if config.sms_sender is not None and config.sms_sender != "console":
        from .state import load_sender

        load_sender(config.sms_sender)


def _with_config_file(parser: argparse.ArgumentParser, args: argparse.Namespace,
                      argv: list[str]) -> argparse.Namespace:
    """``args`` with the ``--config`` file's settings under the flags given on the command line."""
    from .config_file import explicit_options, read_config_file

    if args.config is not None:
        given = explicit_options(parser, argv)
        inverted = {"secure_cookies": "insecure_cookies", "smtp_starttls": "smtp_no_starttls"}
        for name, value in read_config_file(args.config).items():
            if name in given or (name == "index" and args.index is not None):
                continue
            if name in inverted:
                setattr(args, inverted[name], not value)
            else:
                setattr(args, name, value)
    missing = [name for name in ("index", "key", "campaign") if getattr(args, name) is None]
    if missing:
        raise ValueError(f"give {', '.join(missing)} (as arguments, or in --config)")
    return args


def serve_main(argv: Sequence[str]) -> int:
    """``breachindex serve INDEX --key KEYFILE --campaign DB [options]``."""
    parser = serve_parser()
    args = parser.parse_args(list(argv))
    try:
        args = _with_config_file(parser, args, list(argv))
    except (OSError, ValueError) as exc:
        print(f"breachindex serve: error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("breachindex serve: error: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        check_forwarded_allow_ips(args.forwarded_allow_ips)
        config = config_from_args(args)
        _check_config(config)
    except (BreachIndexError, OSError, ValueError, TypeError, ImportError, AttributeError) as exc:
        print(f"breachindex serve: error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .logs import uvicorn_log_config
    from .metrics import metrics_folder
    from .transport import CORKED_HTTP

    os.environ[CONFIG_ENV] = config.to_json()
    # uvicorn stops gracefully on SIGTERM or SIGINT, then raises the signal again against the handler
    # it found: with the default one that kills this process (exit 143) before the metrics folder
    # is removed. A handler that does nothing lets the shutdown end here: exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: None)
    with metrics_folder():  # the workers' counts, added up by every scrape of /metrics (server/metrics.py)
        uvicorn.run("breachindex.server.app:app_from_environment", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_config=uvicorn_log_config(args.log_level), access_log=False,
                    proxy_headers=args.forwarded_allow_ips is not None,
                    forwarded_allow_ips=args.forwarded_allow_ips, server_header=False, timeout_keep_alive=5,
                    timeout_graceful_shutdown=10, http=CORKED_HTTP)
    return 0


def _api_key_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="breachindex api-key", description="Manage the API keys a server accepts.")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="add a key and print it (shown only this once)")
    c.add_argument("file", help=_KEYS_HELP)
    c.add_argument("--name", required=True, help="a label: which service uses the key")
    c.add_argument("--scope", action="append", choices=SCOPES, required=True, help="repeat for several scopes")
    c.add_argument("--per-second", type=float, default=DEFAULT_PER_SECOND,
                   help=f"requests a second, over every worker ({DEFAULT_PER_SECOND:g})")
    c.add_argument("--per-day", type=int, default=DEFAULT_PER_DAY,
                   help=f"requests a UTC day, over every worker ({DEFAULT_PER_DAY})")
    expiry = c.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=int, default=DEFAULT_EXPIRY.days,
                        help=f"days until the key expires ({DEFAULT_EXPIRY.days})")
    expiry.add_argument("--no-expiry", action="store_true", help="the key is valid until it is revoked")
    c.add_argument("--json", action="store_true")
    ls = sub.add_parser("list", help="list the keys (ids, names, scopes, quotas, expiry; never the keys)")
    ls.add_argument("file", help=_KEYS_HELP)
    ls.add_argument("--campaign", help="the campaign store: also show when each key was last used")
    ls.add_argument("--json", action="store_true")
    r = sub.add_parser("revoke", help="remove a key by its id")
    r.add_argument("file", help=_KEYS_HELP)
    r.add_argument("id")
    return p


def api_key_main(argv: Sequence[str]) -> int:
    """``breachindex api-key create|list|revoke FILE ...``; exit 1 when revoke finds no key."""
    args = _api_key_parser().parse_args(list(argv))
    try:
        if args.action == "create":
            if args.expires_in_days < 1:
                raise ValueError("--expires-in-days must be at least 1 (or give --no-expiry)")
            token = create_api_key(args.file, name=args.name, scopes=args.scope, per_second=args.per_second,
                                   per_day=args.per_day,
                                   expires_in=None if args.no_expiry else timedelta(days=args.expires_in_days))
            print(json.dumps({"key": token, "scopes": sorted(set(args.scope))}) if args.json else token)
            return 0
        if args.action == "list":
            keys = list_api_keys(args.file)
            used = {} if args.campaign is None else read_last_used(args.campaign, [k.id for k in keys])
            views: list[dict[str, Any]] = [
                {"id": k.id, "name": k.name, "scopes": sorted(k.scopes), "created_at": k.created_at,
                 "per_second": k.per_second, "per_day": k.per_day, "expires_at": k.expires_at, "expired": k.expired(),
                 "last_used_at": None if k.id not in used else iso(used[k.id])} for k in keys]
            if args.json:
                print(json.dumps(views))
            else:
                for v in views:
                    state = "EXPIRED" if v["expired"] else f"until {v['expires_at'] or 'revoked'}"
                    print(f"{v['id']}  {','.join(v['scopes']):<22} {v['per_second']:g}/s {v['per_day']}/day  "
                          f"{state}  last used {v['last_used_at'] or '-'}  {v['name']}")
            return 0
        return 0 if revoke_api_key(args.file, args.id) else 1
    except (OSError, ValueError) as exc:
        print(f"breachindex api-key: error: {exc}", file=sys.stderr)
        return 2
