"""``dos-estimators fit``: build the regressor of ``--estimator``, fit it on a data set, save it."""

from __future__ import annotations

import difflib
import importlib
import time

from .files import check_output_folder
from .report import EXIT_FAILED, EXIT_OK, PROG, Reporter, UsageError, describe

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


def _estimator(args):
    """The unfitted regressor of ``--estimator`` with the ``--param`` values, checked.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fit``.

    Returns
    -------
    estimator
        A regressor of :mod:`dos_estimators.estimators`, not fitted.

    Raises
    ------
    UsageError
        If a ``--param`` is reserved, unknown to the estimator, or has a bad value.
    """
    estimators = importlib.import_module("..estimators", __package__)
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
        estimator.validate_params()
    except ValueError as error:
        raise UsageError(f"--param: {error}") from None
    return estimator


def _load_data(args):
    """The data set of ``--data``: the phonon set, the electron set, or a JSON-lines file.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fit`` (``--data``, ``--data-home``).

    Returns
    -------
    sklearn.utils.Bunch
        ``structures``, ``dos``, ``energies`` and ``energy_unit``, among others.

    Raises
    ------
    UsageError
        If the data file is missing.
    """
    from ..datasets import load_electron_dos, load_phonon_dos

    try:
        if args.data == "phonon":
            return load_phonon_dos(data_home=args.data_home)
        if args.data == "electron":
            return load_electron_dos(data_home=args.data_home)
        return load_electron_dos(args.data, data_home=args.data_home)
    except FileNotFoundError as error:
        raise UsageError(f"--data {args.data}: {error}") from None


def run_fit(args) -> int:
    """Run ``fit``: check the options, load the data, fit, save to ``--out``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``fit``.

    Returns
    -------
    int
        The exit status: 0 saved, 1 the data set did not load or the fit failed.
    """
    report = Reporter(args.quiet)
    estimator = _estimator(args)
    check_output_folder(args.out, "--out")
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
        report.failed(args.data, describe(error))
        return EXIT_FAILED
    report.info(
        f"{PROG}: trained {estimator.n_epochs_} epoch(s) in {time.perf_counter() - started:.1f} s;"
        f" saved to {args.out}"
    )
    return EXIT_OK
