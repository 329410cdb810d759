"""`python -m evals`: the command line (see evals/cli.py)."""

import sys

from evals.cli import main

if __name__ == "__main__":
    sys.exit(main())
