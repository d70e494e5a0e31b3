"""Pruning: per-epoch reports of a skorch training to an Optuna trial, or per-fold ones."""

from __future__ import annotations

import optuna
from skorch.callbacks import Callback

PRUNING_CALLBACK_NAME = "optuna_pruning"
"""Name under which :func:`tune` adds its :class:`PruningCallback` to an estimator's callbacks."""


class PruningCallback(Callback):
    """skorch callback that reports each epoch's validation score to an Optuna trial.

    After every epoch it reports the last value of ``monitor`` from the net's history with
    ``trial.report`` and raises :class:`optuna.TrialPruned` when the study's pruner says
    ``trial.should_prune()``. The exception ends training and, inside
    :meth:`optuna.Study.optimize`, marks the trial pruned.

    One callback may serve several trainings in one trial: the cross-validation folds and the
    members of an ensemble (``n_ensemble``) are trained one after another. The ``k``-th
    training (counting from 0) reports epoch ``e`` (from 1) at step
    ``k * max_epochs + e - 1``, so trials with the same ``max_epochs``, folds and ensemble
    size compare the same network of the same fold at the same epoch, whatever early
    stopping did before.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The trial to report to.
    monitor : str, default="valid_loss"
        Key of the net's history to report (needs a validation split, e.g.
        ``validation_fraction > 0`` for the package's estimators).
    lower_is_better : bool, default=True
        Whether smaller values of ``monitor`` are better. The reported value is negated when
        this disagrees with the study's direction, so a study that maximises a score gets
        ``-valid_loss``.

    Attributes
    ----------
    n_trainings_ : int
        Trainings that have begun with this callback.

    Raises
    ------
    ValueError
        At an epoch's end, if the history does not hold ``monitor`` (the message lists the
        keys it holds).

    Examples
    --------
    In an objective of your own (:func:`tune` adds the callback itself):

    >>> import numpy as np
    >>> import optuna
    >>> from pymatgen.core import Lattice, Structure
    >>> from dos_estimators import DOSTransformerRegressor
    >>> X = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ...      for a in (3.0, 3.2, 3.4, 3.6, 3.8)]
    >>> y = np.random.default_rng(0).random((5, 51))
    >>> def objective(trial):
    ...     model = DOSTransformerRegressor(
    ...         hidden=8, n_heads=2, max_epochs=3, validation_fraction=0.4, random_state=0,
    ...         lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
    ...         callbacks=[PruningCallback(trial)])
    ...     return model.fit(X[:4], y[:4]).score(X[4:], y[4:])
    >>> study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    >>> study.optimize(objective, n_trials=2)
    >>> sorted(study.trials[0].intermediate_values)
    [0, 1, 2]
    """

    def __init__(self, trial, monitor="valid_loss", lower_is_better=True):
        self.trial = trial
        self.monitor = monitor
        self.lower_is_better = lower_is_better

    def on_train_begin(self, net, **kwargs):
        """Count a new training and remember where its epochs begin in the history.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net about to train.
        **kwargs
            Ignored; skorch passes the training data.
        """
        self.n_trainings_ = getattr(self, "n_trainings_", 0) + 1
        self._first_epoch = len(net.history)

    def on_epoch_end(self, net, **kwargs):
        """Report the epoch's ``monitor`` to the trial, and stop training if it is pruned.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net that finished an epoch.
        **kwargs
            Ignored; skorch passes the training and validation data.

        Raises
        ------
        optuna.TrialPruned
            If the study's pruner prunes the trial after this report.
        ValueError
            If the net's history does not record ``monitor``.
        """
        last = net.history[-1]
        if self.monitor not in last:
            raise ValueError(
                f"PruningCallback monitors {self.monitor!r}, which the net's history does not "
                f"record (it has {sorted(last)}); train with a validation split or choose "
                "another monitor."
            )
        value = float(last[self.monitor])
        maximize = self.trial.study.direction == optuna.study.StudyDirection.MAXIMIZE
        if maximize == self.lower_is_better:
            value = -value
        epoch = len(net.history) - getattr(self, "_first_epoch", 0)
        step = (getattr(self, "n_trainings_", 1) - 1) * net.max_epochs + epoch - 1
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at step {step} (training {self.n_trainings_}, epoch {epoch}) with "
                f"{self.monitor}={last[self.monitor]:.6g}"
            )

    def __getstate__(self):
        # A trial holds its study's storage (a database connection, say): not picklable and
        # of no use to a saved model.
        state = self.__dict__.copy()
        state["trial"] = None
        return state


def _pruning_mode(estimator, pruner) -> tuple[bool, bool]:
    """Whether :func:`~dos_estimators.tuning.tune` prunes, and whether per epoch.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The estimator to tune; one that takes skorch ``callbacks`` is pruned per epoch.
    pruner : optuna.pruners.BasePruner or None
        ``tune``'s ``pruner``; ``None`` or a ``NopPruner`` prunes nothing.

    Returns
    -------
    prune : bool
        Whether trials report intermediate values at all.
    epoch_pruning : bool
        Whether they report per epoch through a :class:`PruningCallback` (else per fold).

    Raises
    ------
    ValueError
        If pruning per epoch is asked of an estimator without a validation fraction.
    """
    prune = pruner is not None and not isinstance(pruner, optuna.pruners.NopPruner)
    params = estimator.get_params(deep=False)
    epoch_pruning = prune and "callbacks" in params
    if epoch_pruning and not params.get("validation_fraction", 1):
        raise ValueError(
            "Epoch-level pruning reports the validation loss, but the estimator has "
            f"validation_fraction={params['validation_fraction']!r}; give it a validation "
            "fraction or pass pruner=None."
        )
    return prune, epoch_pruning
