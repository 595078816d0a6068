"""``python -m bench``: run the benchmark scenarios."""

import sys

from bench.cli import main

sys.exit(main())
