"""``dos-estimators predict``: one CSV row per structure file, with ``--thermo`` columns."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .files import check_output_folder
from .model import predictions
from .plot import write_plots
from .report import EXIT_FAILED, EXIT_OK, PROG, Reporter


def _labels(values) -> list[str]:
    """The shortest ``%g`` texts (6 digits or more) that tell every value apart."""
    for digits in range(6, 18):
        texts = [f"{value:.{digits}g}" for value in values]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(value)) for value in values]


def _thermo_columns(names, structures, pred, grid, temperatures, unit, report: Reporter):
    """Columns ``cv_<T>K``, ``entropy_<T>K``, ``free_energy_<T>K`` and ``zpe``.

    Parameters
    ----------
    names : list of str
    structures : list of pymatgen.core.Structure
    pred : numpy.ndarray of shape (n_files, n_energies)
        The predicted phonon DOS.
    grid : numpy.ndarray of shape (n_energies,)
        Its frequencies, in ``unit``.
    temperatures : list of float
        ``--thermo``, in kelvin.
    unit : str
        A unit of :data:`dos_estimators.thermo.FREQUENCY_UNITS`.
    report : Reporter
        Told about each DOS that is zero everywhere (its columns stay NaN).

    Returns
    -------
    dict of str to numpy.ndarray of shape (n_files,)
    """
    from ..thermo import phonon_thermo

    n = len(names)
    labels = _labels(temperatures)
    columns = {
        f"{quantity}_{label}K": np.full(n, np.nan)
        for quantity in ("cv", "entropy", "free_energy")
        for label in labels
    }
    columns["zpe"] = np.full(n, np.nan)
    # A DOS predicted zero everywhere has no modes to normalise to 3N.
    usable = pred.sum(axis=1) > 0
    for i in np.flatnonzero(~usable):
        report.failed(names[i], "the predicted DOS is zero everywhere: no thermodynamics")
    if usable.any():
        n_atoms = np.array([len(structure) for structure in structures])
        result = phonon_thermo(pred[usable], grid, n_atoms[usable], temperatures, unit=unit)
        for quantity in ("cv", "entropy", "free_energy"):
            for j, label in enumerate(labels):
                columns[f"{quantity}_{label}K"][usable] = result[quantity][:, j]
        columns["zpe"][usable] = result["zpe"]
    return columns


def run_predict(args) -> int:
    """Run ``predict``: write the CSV (to ``--out`` or stdout) and the ``--plot`` PNGs.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``predict``.

    Returns
    -------
    int
        The exit status: 0 every file predicted, 1 some failed (or none was read).
    """
    report = Reporter(args.quiet)
    to_stdout = args.out in (None, "-")
    if not to_stdout:
        check_output_folder(args.out, "--out")
    started = time.perf_counter()
    grid, unit, names, structures, pred, std = predictions(
        args, report, need_frequencies=args.thermo is not None
    )
    import pandas as pd

    energy_labels = _labels(grid)
    columns = {"file": names}
    columns.update({f"dos_{label}": pred[:, j] for j, label in enumerate(energy_labels)})
    if std is not None:
        columns.update({f"std_{label}": std[:, j] for j, label in enumerate(energy_labels)})
    if args.thermo is not None:
        columns.update(_thermo_columns(names, structures, pred, grid, args.thermo, unit, report))
    frame = pd.DataFrame(columns)
    frame.to_csv(sys.stdout if to_stdout else args.out, index=False, float_format="%.6g")
    if args.plot is not None and names:
        write_plots(Path(args.plot), names, grid, pred, std, unit)
    report.info(
        f"{PROG}: predicted {len(names)} structure(s) in {time.perf_counter() - started:.1f} s"
        + ("" if to_stdout else f", written to {args.out}")
        + (f"; {report.n_failed} failure(s) above" if report.n_failed else "")
    )
    return EXIT_FAILED if report.n_failed or not names else EXIT_OK
