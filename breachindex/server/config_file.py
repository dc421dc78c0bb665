"""``breachindex serve --config FILE``: the server's settings in a TOML file.

Keys are ``ServerConfig``'s fields (``index``, ``key``, ``campaign``, ``vault``, ``page_url``,
``check_ip_rate``, ...) and the process's own: ``host``, ``port``, ``workers``,
``forwarded_allow_ips``. A flag given on the command line wins over the file. An unknown key is
an error (a misspelt limit must not silently fall back to its default)::

    index = "/srv/somi/fb2021.idx"
    key = "/etc/somi/leak.key"
    campaign = "/var/lib/somi/campaign.db"
    vault = "/var/lib/somi/vault"
    host = "127.0.0.1"
    port = 8000
    workers = 2
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config import ServerConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser, from PyPI ([server] installs it)
    import tomli as tomllib

__all__ = ["PROCESS_KEYS", "read_config_file", "explicit_options"]

#: settings of the process rather than of the app
PROCESS_KEYS = ("host", "port", "workers", "forwarded_allow_ips")
#: command-line destinations whose config field is the opposite
_INVERTED = {"insecure_cookies": "secure_cookies", "smtp_no_starttls": "smtp_starttls"}


def read_config_file(path: str) -> dict[str, Any]:
    """The file's settings, checked against the known keys (ValueError names the unknown ones)."""
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    known = {f.name for f in fields(ServerConfig)} | set(PROCESS_KEYS)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return values


def explicit_options(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    """The options the command line gave, by config field (``--insecure-cookies`` as
    ``secure_cookies=False``), found by parsing again with every default suppressed."""
    quiet = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    for action in parser._actions:  # the same options, none with a default
        if action.option_strings and action.dest != "help":
            kwargs: dict[str, Any] = {"dest": action.dest}
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = action.const
            else:
                kwargs["type"] = action.type
            quiet.add_argument(*action.option_strings, **kwargs)
    given, _ = quiet.parse_known_args(argv)
    out: dict[str, Any] = {}
    for name, value in vars(given).items():
        if name in _INVERTED:
            out[_INVERTED[name]] = not value
        else:
            out[name] = value
    return out
