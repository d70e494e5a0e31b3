"""``main(argv)``: the ``dos-estimators`` command run in-process, from parsing to exit status."""

from __future__ import annotations

import sys

from .parser import build_parser
from .report import EXIT_USAGE, UsageError


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        The exit status: 0 success, 1 some input failed, 2 usage error (also for
        ``--help`` and ``--version``: 0).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help, --version and bad usage
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"{args.parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
