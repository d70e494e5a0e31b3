"""Model files: a fitted regressor saved to, and loaded from, one safetensors file.

No pickle anywhere: parameters and fitted attributes are JSON in the file's header,
weights are raw tensors, and a sha256 checksum covers both (see ``docs/model_files.md``).
The regressors write and read their own state (``save`` and the classmethod ``load`` of
:class:`~dos_estimators.estimators.DOSRegressorBase`); this module gives the functions
that take any of them.
"""

from __future__ import annotations

from ._serialization import FORMAT, FORMAT_VERSION

# Imported so that each class is defined, and so registered, before a file names it.
from .estimators import (  # noqa: F401
    DOSTransformerRegressor,
    DOSVectorRegressor,
    E3NNDOSRegressor,
    GraphNetworkDOSRegressor,
    MLPDOSRegressor,
)
from .estimators.base import DOSRegressorBase
from .estimators.persistence import notes_of, registered

ESTIMATORS = registered()
"""The classes a model file may name: nothing else is ever instantiated by :func:`load_model`."""


def save_model(estimator, path, *, notes=None) -> None:
    """Write a fitted regressor to one safetensors file at ``path``.

    The same as ``estimator.save(path, notes=notes)``
    (:meth:`DOSRegressorBase.save <dos_estimators.estimators.DOSRegressorBase.save>`).

    Parameters
    ----------
    estimator : DOSTransformerRegressor, MLPDOSRegressor, GraphNetworkDOSRegressor, \
E3NNDOSRegressor or DOSVectorRegressor
        Fitted.
    path : str or os.PathLike
        The file to write (replaced if it exists); nothing else is written. The
        suffix ``.safetensors`` lets safetensors tools recognise it.
    notes : dict, optional
        JSON values kept with the model and covered by its checksum: how it was made
        (the command, the data), its measured accuracy. Read back with
        :func:`read_notes`.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If ``estimator`` is not one of the package's regressors, has callbacks, or holds a
        parameter or fitted attribute that is not a JSON value or NumPy array (the message
        names it and points to pickle).
    """
    DOSRegressorBase.save(estimator, path, notes=notes)


def read_notes(path) -> dict:
    """The notes saved with a model (``save_model(..., notes=)``), after the file's checks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        Empty if the model was saved without notes.

    Raises
    ------
    ValueError
        As :func:`load_model`, for a file that is not an intact model file.
    """
    return notes_of(path)


def load_model(path, *, device=None):
    """Load a regressor written by ``save`` — without unpickling anything.

    The file's checksum, length and format version are checked first; then the
    estimator is rebuilt from its class name (one of :data:`ESTIMATORS`) and
    parameters, and every ensemble member's network is built by the estimator and its
    weights loaded. Predictions are bit-identical to those of the saved estimator on
    the same device. The same as :meth:`DOSRegressorBase.load
    <dos_estimators.estimators.DOSRegressorBase.load>`.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`DOSRegressorBase.save
        <dos_estimators.estimators.DOSRegressorBase.save>`.
    device : str, optional
        Put the networks on this device instead of the saved ``device`` parameter
        (e.g. ``"cpu"`` for a model trained on ``"cuda"``); ``get_params()["device"]``
        then says so.

    Returns
    -------
    DOSTransformerRegressor, MLPDOSRegressor, GraphNetworkDOSRegressor, \
E3NNDOSRegressor or DOSVectorRegressor
        Fitted: ``predict``, ``score`` and ``fine_tune`` work. Its networks carry no
        training callbacks (those are rebuilt by ``fit`` and ``fine_tune``).

    Raises
    ------
    ValueError
        If the file is truncated, was modified after it was written (checksum
        mismatch), uses a newer format version, is not a model file, names a class
        outside :data:`ESTIMATORS`, or holds parameters or weights that this version's
        estimator does not accept; the message says which.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from dos_estimators import DOSVectorRegressor, load_model
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 5)), rng.random((20, 51))
    >>> model = DOSVectorRegressor(hidden=16, max_epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save(path)
    >>> np.array_equal(load_model(path).predict(X), model.predict(X))
    True
    """
    return DOSRegressorBase.load(path, device=device)


__all__ = ["ESTIMATORS", "FORMAT", "FORMAT_VERSION", "load_model", "read_notes", "save_model"]
