"""``python -m dos_estimators.cli``: the ``dos-estimators`` command."""

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
