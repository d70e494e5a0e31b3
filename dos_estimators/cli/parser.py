"""The ``dos-estimators`` argument parser: one function per command, and the option types.

Building the parser imports neither torch nor pymatgen, so that ``--help`` and
``--version`` answer at once; parsing a command's options imports torch, to check
``--device`` (default ``cpu``) against the machine's devices.
"""

from __future__ import annotations

import argparse
import json
import textwrap

import numpy as np

from .._version import __version__
from ..thermo import FREQUENCY_UNITS
from .fit import ESTIMATORS, run_fit
from .plot import run_plot
from .predict import run_predict
from .report import PROG

_FORMATTER = argparse.RawDescriptionHelpFormatter  # keeps the epilogs' examples as written


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
    """``--thermo``: distinct temperatures >= 0 K, comma-separated."""
    values = _numbers(text)
    if any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"temperatures must be >= 0 K, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"each temperature once, got {text!r}")
    return values


def _frequency_range(text: str) -> tuple[float, float]:
    """``--frequencies``: ``START,STOP`` with ``0 <= START < STOP``."""
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
    """``--limit``: an integer >= 1."""
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


# -- the commands ----------------------------------------------------------------------------
def _wrap(text: str) -> str:
    return textwrap.fill(text, width=80)


def _add_prediction_options(parser, thermo: bool) -> None:
    """The options that ``predict`` and ``plot`` share: the model and how it runs.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of ``predict`` or ``plot``.
    thermo : bool
        Whether the command has ``--thermo`` (named in the help of ``--frequency-unit``).
    """
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


def _add_predict(commands) -> None:
    """The ``predict`` command.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The subcommands of the main parser.
    """
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
    predict.set_defaults(handler=run_predict, parser=predict)


def _add_fit(commands) -> None:
    """The ``fit`` command.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The subcommands of the main parser.
    """
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
    _add_fit_options(fit)
    fit.set_defaults(handler=run_fit, parser=fit)


def _add_fit_options(fit) -> None:
    """The options of ``fit``: data, estimator and its parameters, output, device.

    Parameters
    ----------
    fit : argparse.ArgumentParser
        The parser of ``fit``.
    """
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


def _add_plot(commands) -> None:
    """The ``plot`` command.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The subcommands of the main parser.
    """
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
    plot.set_defaults(handler=run_plot, parser=plot)


def build_parser() -> argparse.ArgumentParser:
    """The ``dos-estimators`` argument parser with its ``predict``, ``fit`` and ``plot``.

    Each command's parser sets ``handler`` (the function that runs it, taking the parsed
    namespace and returning the exit status) and ``parser`` (itself, for its messages).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Predict the density of states of crystals from their structure files, "
        "fit and save a model, plot predictions.",
        epilog=f"Run `{PROG} COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_predict(commands)
    _add_fit(commands)
    _add_plot(commands)
    return parser
