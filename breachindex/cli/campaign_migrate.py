"""``breachindex campaign migrate --from STORE --to STORE --key KEYFILE [--json]``: move a
campaign to another store (SQLite to PostgreSQL, or back), verifying the audit log on both
sides (``campaign.transfer``). The destination must be new or empty; stop the servers first.

Stores are paths, ``sqlite:///`` or ``postgresql://`` URLs (the password in ``~/.pgpass`` or
``PGPASSFILE``, never on the command line). Prints the rows moved per table and the audit
log's size and root; exit 0 when both sides agree, 2 otherwise (nothing is kept half done:
the destination's copy is one transaction).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..errors import BreachIndexError
from .output import EXIT_OK, JsonArgumentParser, print_json, report_error

__all__ = ["main", "grant_main"]


def main(argv: Sequence[str]) -> int:
    as_json = "--json" in argv
    parser = JsonArgumentParser(prog="breachindex campaign migrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="the campaign store to move")
    parser.add_argument("--to", dest="destination", required=True, help="the new, empty store")
    parser.add_argument("--key", required=True, help="the campaign's secret key file")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    try:
        args = parser.parse_args(list(argv))
        from ..campaign.transfer import transfer  # the campaign extra (and psycopg for PostgreSQL)

        moved = transfer(args.source, args.destination, secret=args.key)
    except (BreachIndexError, OSError, ValueError) as exc:
        return report_error(exc, as_json=as_json)
    if args.json:
        print_json({"rows": moved.rows, "total": moved.total, "audit_entries": moved.audit_entries,
                    "audit_root": moved.audit_root})
        return EXIT_OK
    for table, count in moved.rows.items():
        print(f"{table}: {count}")
    print(f"moved {moved.total} rows; the audit log holds {moved.audit_entries} entries on both sides, "
          f"root {moved.audit_root or '(empty)'}")
    return EXIT_OK


def grant_main(argv: Sequence[str]) -> int:
    """``breachindex campaign grant-app-role --db postgresql://OWNER@... --role ROLE``: let the
    role the servers connect as use the store (every table; the audit log only read and
    inserted). Run as the schema's owner after creating or upgrading the store."""
    parser = JsonArgumentParser(prog="breachindex campaign grant-app-role", description=grant_main.__doc__)
    parser.add_argument("--db", required=True, help="the PostgreSQL campaign store, as its owner")
    parser.add_argument("--role", required=True, help="the role the servers connect as")
    try:
        args = parser.parse_args(list(argv))
        from ..campaign.store import is_postgresql_url, open_store

        if not is_postgresql_url(args.db):
            raise ValueError("grant-app-role is for a postgresql:// store (a SQLite file has no roles)")
        from ..campaign.pgstore import PgStore, grant_app_role

        store = open_store(args.db)
        try:
            assert isinstance(store, PgStore)
            grant_app_role(store, args.role)
        finally:
            store.close()
    except (BreachIndexError, OSError, ValueError) as exc:
        return report_error(exc, as_json=False)
    print(f"granted: {args.role} may use every table; the audit log only SELECT and INSERT")
    return EXIT_OK
