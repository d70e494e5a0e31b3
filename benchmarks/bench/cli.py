"""The command-line options of the scripts that fit rows of :data:`bench.models.MODELS`.

:func:`add_common_arguments`, :func:`add_seed_arguments` and :func:`finish_arguments`
for the scripts that fit the rows; :func:`add_row_arguments` for those that store one
JSON file per fit. The options of a script that keeps one JSON file are
:func:`bench.measure.add_json_report_arguments`.
"""

from __future__ import annotations

import argparse

from .fits import SPLITS
from .models import MODELS, parse_params


def add_common_arguments(
    parser: argparse.ArgumentParser, models, out: str, verbose: int = 0
) -> None:
    """The options every benchmark script takes."""
    parser.add_argument(
        "--models",
        nargs="+",
        default=models,
        choices=[*MODELS, "all"],
        help=f"rows to run (default: {' '.join(models)})",
    )
    parser.add_argument("--quick", action="store_true", help="small models, few epochs (CI)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--max-epochs", type=int, help="override the number of epochs")
    parser.add_argument("--data-home", help="folder holding the data files")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="processes for the crystal-system search (pays only with many cores)",
    )
    parser.add_argument("--out", default=out, help="output folder")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[MODEL:]NAME=VALUE",
        help="estimator parameter (repeatable), for one model or every model that has it, "
        "e.g. --param hidden=128 --param dostransformer:n_ensemble=3",
    )
    parser.add_argument("--verbose", type=int, default=verbose, help="estimator verbosity")


def add_seed_arguments(parser: argparse.ArgumentParser, splits: bool = True) -> None:
    """``--seeds`` and, for a script that fits several splits, ``--splits``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.
    splits : bool, default=True
        Whether the script fits the splits of :data:`SPLITS` (``--splits``, and
        ``--seed`` as a second name of ``--seeds``) rather than the ID split alone.
    """
    flags = ["--seeds"]
    if splits:
        parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
        flags.append("--seed")
    parser.add_argument(
        *flags,
        dest="seeds",
        nargs="+",
        type=int,
        default=[0],
        help="split and model seeds (mean ± std)",
    )


def finish_arguments(args):
    """Expand ``--models all`` and check ``--param`` model names."""
    if "all" in args.models:
        args.models = list(MODELS)
    args.params = parse_params(args.param)
    families = {key.removesuffix("_energy") for key in MODELS}
    unknown = set(args.params) - {None} - set(MODELS) - families
    if unknown:
        raise SystemExit(f"--param names unknown models {sorted(unknown)}; known: {list(MODELS)}")
    return args


def add_row_arguments(parser: argparse.ArgumentParser, rows: str, docs: str) -> None:
    """``--rows``, ``--report`` and ``--docs``: where the rows lie and which page gets the table."""
    parser.add_argument(
        "--rows",
        help=f"folder of the rows, one JSON file per fit (default: {rows}; with --quick: "
        "OUT/rows, never the docs' data)",
    )
    parser.add_argument(
        "--report", action="store_true", help="fit nothing: rebuild the table from the rows"
    )
    parser.add_argument("--docs", default=docs, help="page the table goes into with --report")
