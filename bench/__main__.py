"""``python -m bench`` from a checkout: the same harness as ``breachindex bench``."""
import sys

from breachindex.cli.bench import main

sys.exit(main())
