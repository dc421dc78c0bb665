"""``python -m breachindex.server serve ...`` and ``python -m breachindex.server api-key ...``."""
from __future__ import annotations

import sys

from .cli import api_key_main, serve_main


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    if argv[:1] == ["api-key"]:
        return api_key_main(argv[1:])
    print("usage: python -m breachindex.server serve INDEX --key KEYFILE --campaign DB [options]\n"
          "       python -m breachindex.server api-key create|list|revoke FILE ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
