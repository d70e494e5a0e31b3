"""Hyper-parameter search with Optuna for any scikit-learn estimator, DOS regressors included.

:func:`tune` cross-validates each trial, prunes bad trials per epoch through
:class:`PruningCallback`, and keeps its study in memory, in a database or in a journal file,
so that several workers can share it and a re-run continues it.
"""

# Where the code lives; import the names from this package, not from its modules.
#   _tune          tune(), read top to bottom: check the arguments, open the study, run the
#                  trials, refit the best parameters
#   _search_space  checking param_distributions, and sampling them in a trial
#   _objective     one trial: fit and score every fold with the trial's parameters
#   _pruning       PruningCallback (per-epoch reports) and the choice of epoch or fold pruning
#   _storage       the study: its storage (memory, database URL, journal file) and sampler
#   _heartbeat     the heartbeat of trials running in a journal file
#   _result        TuningResult
# The tests follow the same split: tests/test_tuning.py (tune and its arguments),
# tests/test_tuning_pruning.py and tests/test_tuning_storage.py.

from ._pruning import PRUNING_CALLBACK_NAME as PRUNING_CALLBACK_NAME
from ._pruning import PruningCallback
from ._result import TuningResult
from ._tune import tune

__all__ = ["PruningCallback", "TuningResult", "tune"]
