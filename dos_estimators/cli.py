"""The ``dos-estimators`` command: predict the DOS of structure files, fit a model, plot.

``main(argv)`` runs it in-process and returns the exit status: 0 when everything
succeeded, 1 when some input file (or the fit) failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .thermo import FREQUENCY_UNITS

__all__ = ["ESTIMATORS", "build_parser", "main"]

PROG = "dos-estimators"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_FREQUENCY_UNIT = "cm^-1"  # that of the phonon data set

# Class names rather than classes: the parser (and --help) must not wait for torch.
ESTIMATORS = {
    "dostransformer": "DOSTransformerRegressor",
    "mlp": "MLPDOSRegressor",
    "graph_network": "GraphNetworkDOSRegressor",
    "e3nn": "E3NNDOSRegressor",
}
"""``fit --estimator`` names and the regressors of :mod:`dos_estimators.estimators` they build."""

# Constructor parameters that --param cannot set: objects (callbacks) or a dedicated option.
_RESERVED_PARAMS = {"callbacks": None, "device": "--device"}
# Warnings of the file readers shown to users; library deprecations are not their business.
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


class UsageError(Exception):
    """A bad argument found after parsing: reported on stderr, exit status 2."""


class _Reporter:
    """Messages on stderr: errors always, progress and warnings unless ``quiet``."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.n_failed = 0

    def failed(self, name, reason) -> None:
        self.n_failed += 1
        print(f"{PROG}: error: {name}: {reason}", file=sys.stderr)

    def warn(self, name, message) -> None:
        """A warning about ``name`` (an input file; None: the run as a whole)."""
        if not self.quiet:
            about = "" if name is None else f"{name}: "
            print(f"{PROG}: warning: {about}{message}", file=sys.stderr)

    @contextlib.contextmanager
    def warnings_of(self, name=None):
        """Show the Python warnings raised in the block as one line each, without repeats."""
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
        if not self.quiet:
            print(message, file=sys.stderr)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# -- argument types --------------------------------------------------------------------------
def _numbers(text: str) -> list[float]:
    """``"300,600"`` as ``[300.0, 600.0]``; an ``argparse`` type."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def _temperatures(text: str) -> list[float]:
    values = _numbers(text)
    if any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"temperatures must be >= 0 K, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"each temperature once, got {text!r}")
    return values


def _frequency_range(text: str) -> tuple[float, float]:
    values = _numbers(text)
    if len(values) != 2 or not 0 <= values[0] < values[1]:
        raise argparse.ArgumentTypeError(
            f"expected START,STOP with 0 <= START < STOP, got {text!r}"
        )
    return values[0], values[1]


def _device(text: str) -> str:
    """A torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (cpu, cuda, cuda:1, mps, ...)"
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, True):
        raise argparse.ArgumentTypeError(f"this machine has no {device.type} device")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _param(text: str) -> tuple[str, object]:
    """``"hidden=16"`` as ``("hidden", 16)``: the value as JSON, else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return name.strip(), parsed


# -- inputs ----------------------------------------------------------------------------------
def _input_files(paths, report: _Reporter) -> list[Path]:
    """The files named, with each folder replaced by its visible files in name order."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                entry
                for entry in path.iterdir()
                if entry.is_file() and not entry.name.startswith(".")
            )
            if not found:
                report.failed(path, "the folder holds no files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            report.failed(path, "no such file or folder")
    return files


def _read_structures(files, report: _Reporter):
    """``(names, structures)`` of the files pymatgen reads; the others are reported."""
    from pymatgen.core import Structure

    from .structures import as_structure

    names, structures = [], []
    for path in files:
        with report.warnings_of(path):
            try:
                parsed = Structure.from_file(path)
            # pymatgen's parsers raise many exception types on a malformed file; any of
            # them means this one file is skipped, with the reason shown.
            except Exception as error:
                report.failed(path, f"cannot read a structure ({_describe(error)})")
                continue
            # A file that parses but is no usable crystal (disordered, overlapping atoms,
            # a degenerate cell, ...) is reported with the check's own message.
            try:
                structure = as_structure(parsed)
            except ValueError as error:
                report.failed(path, str(error))
                continue
        names.append(str(path))
        structures.append(structure)
    return names, structures


def _load(path, device: str | None, cache=None, scratch=None):
    """The regressor saved at ``path`` (or a potential's zero-shot one); a missing or
    invalid file is a usage error.

    A potential's phonons go to ``cache`` (``--cache``), else to ``scratch`` (a folder that
    lasts the command: the warnings read the phonons the prediction computed).
    """
    from .estimators import GraphDOSRegressor
    from .model_files import load_model
    from .phonons import POTENTIALS
    from .pretrained import PRETRAINED, zero_shot
    from .pretrained import path as pretrained_path

    if str(path) in POTENTIALS and not Path(path).is_file():
        return zero_shot(str(path), cache=_caches(cache, scratch), device=device or "cpu")
    if str(path) in PRETRAINED and not Path(path).is_file():
        try:
            path = pretrained_path(str(path))
        except FileNotFoundError as error:
            raise UsageError(str(error)) from None
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"model file {str(path)!r} not found (--model: a file written by save, a "
            f"pretrained model: {', '.join(PRETRAINED)}, or a universal potential for its "
            f"zero-shot phonon DOS: {', '.join(POTENTIALS)})."
        )
    try:
        model = load_model(path, device=device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not isinstance(model, GraphDOSRegressor):
        raise UsageError(
            f"{path} holds a {type(model).__name__}, which predicts from feature vectors; "
            "the command line predicts from structure files."
        )
    # Nothing of the model's may print to stdout, which can carry the CSV.
    model.set_params(verbose=0)
    prior = getattr(model, "prior_", None)
    if prior is not None:
        # The fit's own cache may be a folder of another machine: only its priors files
        # that exist here are read, and nothing is written outside --cache and scratch.
        stored = [] if prior.cache is None else _as_list(prior.cache)
        readable = [p for p in stored if str(p).endswith(".npz") and Path(p).is_file()]
        prior.set_params(cache=_caches(cache, scratch, readable), device=device or "cpu")
    return model


def _as_list(cache) -> list:
    return list(cache) if isinstance(cache, (list, tuple)) else [cache]


def _caches(cache, scratch, extra=()) -> list:
    """``--cache`` (if given), ``extra`` priors files, then the scratch folder, in order:
    new phonons are written to the first folder among them."""
    return [*([] if cache is None else _as_list(cache)), *extra, scratch]


def _check_prior(model, potential) -> None:
    """``--prior``: the model must compute the prior of that potential."""
    prior = getattr(model, "prior_", None)
    if potential is None:
        return
    if prior is None:
        raise UsageError(
            f"--prior {potential}: this model was fitted without a prior; drop --prior, or "
            f"use --model {potential} for the potential's zero-shot DOS."
        )
    if prior.potential != potential:
        raise UsageError(
            f"--prior {potential}: this model's prior is {prior.potential!r}, not {potential!r}."
        )


def _grid(model, frequencies, need_frequencies: bool):
    """The model's DOS grid, or the ``--frequencies`` one for a model fitted without one."""
    grid = np.asarray(model.energies_, dtype=float)
    is_index = np.array_equal(grid, np.arange(grid.size))
    if frequencies is not None:
        if not is_index:
            raise UsageError(
                f"--frequencies is for a model fitted without energies (its grid is then the "
                f"column index); this model's grid already runs from {grid[0]:g} to "
                f"{grid[-1]:g} ({grid.size} points)."
            )
        return np.linspace(frequencies[0], frequencies[1], grid.size)
    if need_frequencies and is_index:
        raise UsageError(
            f"--thermo needs the model's frequencies, but its grid is the column index "
            f"0..{grid.size - 1} (it was fitted without energies); give --frequencies "
            f"START,STOP for its {grid.size} points (the phonon set's: 0,1000)."
        )
    if need_frequencies and grid[0] < 0:
        raise UsageError(
            f"--thermo needs a phonon model, whose grid is frequencies >= 0; this model's "
            f"grid starts at {grid[0]:g} (an electron DOS?)."
        )
    return grid


def _predict(model, names, structures, want_std: bool, report: _Reporter):
    """``(names, structures, y_pred, y_std)`` of the structures the model accepts."""
    def predict(batch):
        return model.predict(batch, return_std=True) if want_std else model.predict(batch)

    with contextlib.redirect_stdout(sys.stderr), report.warnings_of():
        try:
            result = predict(structures)
        # A structure the model refuses (an element outside its table, ...) fails the
        # whole batch; then each is predicted alone to name the culprits.
        except Exception:
            result = None
        if result is not None:
            pred, std = result if want_std else (result, None)
            return names, structures, pred, std
        kept, preds, stds = [], [], []
        for i, structure in enumerate(structures):
            try:
                result = predict([structure])
            except Exception as error:
                report.failed(names[i], f"the model cannot predict it ({_describe(error)})")
                continue
            kept.append(i)
            preds.append(result[0] if want_std else result)
            stds.append(result[1] if want_std else None)
    if not kept:
        empty = np.empty((0, model.n_energies_))
        return [], [], empty, empty if want_std else None
    return (
        [names[i] for i in kept],
        [structures[i] for i in kept],
        np.vstack(preds),
        np.vstack(stds) if want_std else None,
    )


def _labels(values) -> list[str]:
    """The shortest ``%g`` texts (6 digits or more) that tell every value apart."""
    for digits in range(6, 18):
        texts = [f"{value:.{digits}g}" for value in values]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(value)) for value in values]


def _thermo_columns(names, structures, pred, grid, temperatures, unit, report: _Reporter):
    """Columns ``cv_<T>K``, ``entropy_<T>K``, ``free_energy_<T>K`` and ``zpe``."""
    from .thermo import phonon_thermo

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


def _write_plots(folder: Path, names, grid, pred, std, unit) -> None:
    from .plotting import plot_dos

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


def _check_output_folder(path, option: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {parent} does not exist.")


# -- subcommands -----------------------------------------------------------------------------
def _predictions(args, report: _Reporter, need_frequencies: bool):
    """Load the model, read the inputs and predict: the shared part of predict and plot."""
    with tempfile.TemporaryDirectory(prefix="dos-estimators-") as scratch:
        return _predictions_in(args, report, need_frequencies, scratch)


def _predictions_in(args, report: _Reporter, need_frequencies: bool, scratch: str):
    model = _load(args.model, args.device, args.cache, scratch)
    _check_prior(model, args.prior)
    grid = _grid(model, args.frequencies, need_frequencies)
    # The grid's unit is known only when the user states it (--thermo, --frequencies, or
    # --frequency-unit itself).
    stated = need_frequencies or args.frequencies is not None or args.frequency_unit
    unit = (args.frequency_unit or DEFAULT_FREQUENCY_UNIT) if stated else None
    names, structures = _read_structures(_input_files(args.paths, report), report)
    want_std = len(getattr(model, "nets_", ())) >= 2
    if structures:
        names, structures, pred, std = _predict(model, names, structures, want_std, report)
    else:
        pred, std = np.empty((0, grid.size)), (np.empty((0, grid.size)) if want_std else None)
    from .cli_checks import warn_about_predictions

    warn_about_predictions(model, names, structures, pred, grid, report.warn)
    return grid, unit, names, structures, pred, std


def _cmd_predict(args) -> int:
    report = _Reporter(args.quiet)
    to_stdout = args.out in (None, "-")
    if not to_stdout:
        _check_output_folder(args.out, "--out")
    started = time.perf_counter()
    grid, unit, names, structures, pred, std = _predictions(
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
        _write_plots(Path(args.plot), names, grid, pred, std, unit)
    report.info(
        f"{PROG}: predicted {len(names)} structure(s) in {time.perf_counter() - started:.1f} s"
        + ("" if to_stdout else f", written to {args.out}")
        + (f"; {report.n_failed} failure(s) above" if report.n_failed else "")
    )
    return EXIT_FAILED if report.n_failed or not names else EXIT_OK


def _cmd_plot(args) -> int:
    report = _Reporter(args.quiet)
    grid, unit, names, _, pred, std = _predictions(args, report, need_frequencies=False)
    if names:
        _write_plots(Path(args.out), names, grid, pred, std, unit)
    report.info(
        f"{PROG}: wrote {len(names)} plot(s) to {args.out}"
        + (f"; {report.n_failed} failure(s) above" if report.n_failed else "")
    )
    return EXIT_FAILED if report.n_failed or not names else EXIT_OK


def _estimator(args):
    """The unfitted regressor of ``--estimator`` with the ``--param`` values, checked."""
    from . import estimators

    cls = getattr(estimators, ESTIMATORS[args.estimator])
    known = cls().get_params(deep=False)
    params = {}
    for name, value in args.param:
        if name in _RESERVED_PARAMS:
            option = _RESERVED_PARAMS[name]
            raise UsageError(
                f"--param {name}: set it with {option}."
                if option
                else f"--param {name}: {name} holds Python objects and cannot be set here."
            )
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"its parameters are {', '.join(sorted(known))}."
            )
            raise UsageError(f"--param {name}: {cls.__name__} has no parameter {name!r}; {hint}")
        params[name] = value
    params["device"] = args.device
    params.setdefault("verbose", 0 if args.quiet else 1)
    estimator = cls(**params)
    try:
        # The values are checked now rather than after minutes of loading the data.
        estimator._check_params()
    except ValueError as error:
        raise UsageError(f"--param: {error}") from None
    return estimator


def _load_data(args):
    from .datasets import load_electron_dos, load_phonon_dos

    try:
        if args.data == "phonon":
            return load_phonon_dos(data_home=args.data_home)
        if args.data == "electron":
            return load_electron_dos(data_home=args.data_home)
        return load_electron_dos(args.data, data_home=args.data_home)
    except FileNotFoundError as error:
        raise UsageError(f"--data {args.data}: {error}") from None


def _cmd_fit(args) -> int:
    report = _Reporter(args.quiet)
    estimator = _estimator(args)
    _check_output_folder(args.out, "--out")
    started = time.perf_counter()
    try:
        data = _load_data(args)
    except ValueError as error:
        report.failed(args.data, f"cannot load the data set ({error})")
        return EXIT_FAILED
    n = len(data.structures) if args.limit is None else min(args.limit, len(data.structures))
    report.info(
        f"{PROG}: loaded {len(data.structures)} crystals ({data.dos.shape[1]} energies, "
        f"{data.energy_unit}) in {time.perf_counter() - started:.1f} s; fitting "
        f"{type(estimator).__name__} on {n}"
    )
    started = time.perf_counter()
    try:
        with report.warnings_of():
            estimator.fit(data.structures[:n], data.dos[:n], energies=data.energies)
        estimator.save(args.out)
    except ValueError as error:
        report.failed(args.data, _describe(error))
        return EXIT_FAILED
    report.info(
        f"{PROG}: trained {estimator.n_epochs_} epoch(s) in {time.perf_counter() - started:.1f} s;"
        f" saved to {args.out}"
    )
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------
_FORMATTER = argparse.RawDescriptionHelpFormatter  # keeps the epilogs' examples as written


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=80)


def _add_prediction_options(parser, thermo: bool) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="a model file written by save() or `dos-estimators fit`, the name of a "
        "pretrained model (phonon), or of a universal potential for its zero-shot phonon "
        "DOS (7net-l3i5, 7net-0, 7net-mf-0, chgnet-0.3.0, chgnet-r2scan)",
    )
    parser.add_argument(
        "--frequencies",
        type=_frequency_range,
        metavar="START,STOP",
        help="the grid of a model fitted without energies (whose grid is then the column "
        "index): its points evenly spaced from START to STOP, in --frequency-unit",
    )
    parser.add_argument(
        "--frequency-unit",
        choices=list(FREQUENCY_UNITS),
        help=f"unit of the model's grid, for {'--thermo, ' if thermo else ''}--frequencies and "
        "the plots' axis (default: cm^-1, that of the phonon data set)",
    )
    parser.add_argument(
        "--device", type=_device, default="cpu", help="torch device to predict on (default: cpu)"
    )
    parser.add_argument(
        "--prior",
        metavar="POTENTIAL",
        help="check that the model was fitted with the prior of this universal potential "
        "(its phonons are computed for every file: seconds to minutes each)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        help="folder (or priors .npz file) keeping a potential's phonons between runs, for "
        "--model POTENTIAL and models with a prior (default: none kept)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only errors on stderr, no progress"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``dos-estimators`` argument parser with its ``predict``, ``fit`` and ``plot``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Predict the density of states of crystals from their structure files, "
        "fit and save a model, plot predictions.",
        epilog=f"Run `{PROG} COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        help="predict the DOS of structure files; write CSV (and plots)",
        description=_wrap(
            "Predict the DOS of each structure file (CIF, POSCAR, ... anything pymatgen's "
            "Structure.from_file reads; a folder stands for its files) and write one CSV row "
            "per file: file, dos_<energy> on the model's grid, std_<energy> for an ensemble, "
            "and with --thermo the harmonic phonon thermodynamics. Unreadable files are "
            "reported on stderr and skipped."
        ),
        epilog="exit status: 0 all files predicted, 1 some failed, 2 usage error\n\n"
        "example:\n"
        f"  {PROG} predict structures/ --model phonon.safetensors --out preds.csv \\\n"
        "      --thermo 300,600",
        formatter_class=_FORMATTER,
    )
    predict.add_argument("paths", nargs="+", metavar="PATH", help="structure files or folders")
    _add_prediction_options(predict, thermo=True)
    predict.add_argument(
        "--out", metavar="CSV", help="CSV file to write; '-' or absent: standard output"
    )
    predict.add_argument("--plot", metavar="DIR", help="also write one PNG per file into DIR")
    predict.add_argument(
        "--thermo",
        type=_temperatures,
        metavar="T1,T2,...",
        help="phonon models only: add cv_<T>K and entropy_<T>K (J/(mol K)), free_energy_<T>K "
        "and zpe (kJ/mol), per mole of the file's cell",
    )
    predict.set_defaults(handler=_cmd_predict, parser=predict)

    fit = commands.add_parser(
        "fit",
        help="fit a regressor on a data set and save it",
        description="Fit a regressor on a data set and save it to one model file.",
        epilog="exit status: 0 saved, 1 the data or the fit failed, 2 usage error\n\n"
        "example:\n"
        f"  {PROG} fit --data phonon --estimator dostransformer --param n_ensemble=5 \\\n"
        "      --out phonon.safetensors",
        formatter_class=_FORMATTER,
    )
    fit.add_argument(
        "--data",
        required=True,
        metavar="phonon|electron|FILE.jsonl",
        help="the phonon set, the electron (GPAW) set, or a JSON-lines file of electron DOS "
        "(see load_electron_dos)",
    )
    fit.add_argument(
        "--estimator",
        choices=list(ESTIMATORS),
        default="dostransformer",
        help="the regressor (default: dostransformer)",
    )
    fit.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a constructor parameter of the estimator, repeatable; VALUE is read as JSON "
        "(16, 0.1, true, null, [1, 2]), else as a string",
    )
    fit.add_argument("--out", required=True, metavar="FILE", help="model file to write")
    fit.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder of the data sets (default: $DOS_ESTIMATORS_DATA, else ~/dos_estimators_data)",
    )
    fit.add_argument(
        "--limit", type=_positive_int, metavar="N", help="fit on the first N crystals only"
    )
    fit.add_argument(
        "--device", type=_device, default="cpu", help="torch device to train on (default: cpu)"
    )
    fit.add_argument(
        "--quiet", action="store_true", help="no per-epoch table, only errors on stderr"
    )
    fit.set_defaults(handler=_cmd_fit, parser=fit)

    plot = commands.add_parser(
        "plot",
        help="plot the predicted DOS of structure files",
        description=_wrap(
            "Predict the DOS of each structure file (or folder of them) and write one PNG per "
            "file (with the ±std band of an ensemble) into DIR."
        ),
        epilog="exit status: 0 all files plotted, 1 some failed, 2 usage error",
        formatter_class=_FORMATTER,
    )
    plot.add_argument("paths", nargs="+", metavar="PATH", help="structure files or folders")
    _add_prediction_options(plot, thermo=False)
    plot.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    plot.set_defaults(handler=_cmd_plot, parser=plot)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
