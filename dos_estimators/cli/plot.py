"""``dos-estimators plot``, and the PNG files that it and ``predict --plot`` write."""

from __future__ import annotations

from pathlib import Path

from .model import predictions
from .report import EXIT_FAILED, EXIT_OK, PROG, Reporter


def _unique_png_names(names) -> list[str]:
    """``<file name>.png`` for each input, numbered when two inputs share a name."""
    used, result = set(), []
    for name in names:
        base = Path(name).name
        candidate, k = f"{base}.png", 2
        while candidate in used:
            candidate, k = f"{base}-{k}.png", k + 1
        used.add(candidate)
        result.append(candidate)
    return result


def write_plots(folder: Path, names, grid, pred, std, unit) -> None:
    """One PNG per input file in ``folder``: its predicted DOS and the ±std band.

    Parameters
    ----------
    folder : pathlib.Path
        Created if absent.
    names : list of str
        The input files; each PNG is ``<file name>.png``.
    grid : numpy.ndarray of shape (n_energies,)
    pred : numpy.ndarray of shape (n_files, n_energies)
    std : numpy.ndarray of shape (n_files, n_energies) or None
        The ensemble's spread, None for no band.
    unit : str or None
        The grid's unit, for the x axis.
    """
    from ..plotting import plot_dos

    folder.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(_unique_png_names(names)):
        plot_dos(
            grid,
            pred[i],
            y_std=None if std is None else std[i],
            labels=[Path(names[i]).name],
            unit=unit,
            path=folder / png,
        )


def run_plot(args) -> int:
    """Run ``plot``: predict each file's DOS and write one PNG per file.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``plot``.

    Returns
    -------
    int
        The exit status: 0 every file plotted, 1 some failed (or none was read).
    """
    report = Reporter(args.quiet)
    grid, unit, names, _, pred, std = predictions(args, report, need_frequencies=False)
    if names:
        write_plots(Path(args.out), names, grid, pred, std, unit)
    report.info(
        f"{PROG}: wrote {len(names)} plot(s) to {args.out}"
        + (f"; {report.n_failed} failure(s) above" if report.n_failed else "")
    )
    return EXIT_FAILED if report.n_failed or not names else EXIT_OK
