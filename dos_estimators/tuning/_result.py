"""What :func:`~dos_estimators.tuning.tune` returns: :class:`TuningResult`."""

from __future__ import annotations

from optuna.trial import TrialState


class TuningResult:
    """What :func:`tune` found: the Optuna study, the best parameters and the refitted model.

    Attributes
    ----------
    study_ : optuna.Study
        The whole study, including trials run by other workers and earlier runs. Each trial's
        ``user_attrs`` hold ``fold_scores`` (one per cross-validation fold), ``std_score``
        and ``worker`` (``host:pid`` of the process that ran it).
    best_trial_ : optuna.trial.FrozenTrial
        The completed trial with the highest mean cross-validation score.
    best_params_ : dict
        Its parameters, ready for ``estimator.set_params(**best_params_)``.
    best_score_ : float
        Its mean cross-validation score (greater is better, as in scikit-learn).
    best_estimator_ : estimator or None
        A clone of the estimator with ``best_params_``, fitted on all of ``X`` and ``y``
        (``None`` with ``refit=False``).
    scorer_ : callable
        The scorer used, ``scorer_(estimator, X, y)``.
    """

    def __init__(self, study, scorer, best_estimator=None):
        self.study_ = study
        self.scorer_ = scorer
        self.best_trial_ = study.best_trial
        self.best_params_ = dict(self.best_trial_.params)
        self.best_score_ = float(self.best_trial_.value)
        self.best_estimator_ = best_estimator

    def _fitted(self):
        """``best_estimator_``, or an error saying that ``refit=False`` fitted none.

        Returns
        -------
        estimator

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If ``tune`` ran with ``refit=False``.
        """
        if self.best_estimator_ is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "tune(..., refit=False) fitted no best_estimator_; fit "
                "clone(estimator).set_params(**result.best_params_) yourself."
            )
        return self.best_estimator_

    def predict(self, X):
        """Predict with ``best_estimator_``.

        Parameters
        ----------
        X : input accepted by the estimator

        Returns
        -------
        numpy.ndarray
        """
        return self._fitted().predict(X)

    def score(self, X, y):
        """Score ``best_estimator_`` on ``(X, y)`` with the scorer used for tuning.

        Parameters
        ----------
        X : input accepted by the estimator
        y : array-like

        Returns
        -------
        float
        """
        return float(self.scorer_(self._fitted(), X, y))

    def __repr__(self):
        counts = {
            state.name.lower(): n
            for state in TrialState
            if (n := len(self.study_.get_trials(deepcopy=False, states=(state,))))
        }
        return (
            f"TuningResult(study={self.study_.study_name!r}, trials={counts}, "
            f"best_score_={self.best_score_:.6g}, best_params_={self.best_params_})"
        )
