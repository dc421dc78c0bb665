"""``python -m bench`` from a checkout: the same harness as ``breachindex bench``."""
import sys

from breachindex.benchmark import main

sys.exit(main())
