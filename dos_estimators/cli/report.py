"""What the command tells its user on stderr, and the exit statuses it ends with.

Standard output carries only the CSV of ``predict`` (and the training table of ``fit``);
errors, warnings and progress go to standard error.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

PROG = "dos-estimators"
"""The program's name, at the start of every message."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit statuses: everything succeeded; some input (or the fit) failed; a usage error."""

# Warnings of the file readers shown to users; library deprecations are not their business.
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


class UsageError(Exception):
    """A bad argument found after parsing: reported on stderr, exit status 2."""


class Reporter:
    """Messages on stderr: errors always, progress and warnings unless ``quiet``.

    Parameters
    ----------
    quiet : bool
        Print only errors.

    Attributes
    ----------
    n_failed : int
        The errors reported so far (each an input that failed).
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.n_failed = 0

    def failed(self, name, reason) -> None:
        """Report that the input ``name`` failed, and count it.

        Parameters
        ----------
        name : str or path-like
            The input file (or data set) that failed.
        reason : str
            Why, shown after the name.
        """
        self.n_failed += 1
        print(f"{PROG}: error: {name}: {reason}", file=sys.stderr)

    def warn(self, name, message) -> None:
        """A warning about ``name`` (an input file; None: the run as a whole).

        Parameters
        ----------
        name : str, path-like or None
            The input file the warning is about; None for the run as a whole.
        message : str
            The warning, shown after the name.
        """
        if not self.quiet:
            about = "" if name is None else f"{name}: "
            print(f"{PROG}: warning: {about}{message}", file=sys.stderr)

    @contextlib.contextmanager
    def warnings_of(self, name=None):
        """Show the Python warnings raised in the block as one line each, without repeats.

        Deprecation and future warnings of the libraries are not shown.

        Parameters
        ----------
        name : str, path-like or None, optional
            The input file the block works on, named in each warning.

        Yields
        ------
        None
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                self._show(name, caught)

    def _show(self, name, caught) -> None:
        shown = set()
        for warning in caught:
            message = str(warning.message).strip()
            if not issubclass(warning.category, _HIDDEN_WARNINGS) and message not in shown:
                shown.add(message)
                self.warn(name, message)

    def info(self, message) -> None:
        """Progress: shown unless ``quiet``.

        Parameters
        ----------
        message : str
        """
        if not self.quiet:
            print(message, file=sys.stderr)


def describe(error: BaseException) -> str:
    """An exception as ``"TypeName: message"``, for the reason of a failure.

    Parameters
    ----------
    error : BaseException

    Returns
    -------
    str
    """
    return f"{type(error).__name__}: {error}"
