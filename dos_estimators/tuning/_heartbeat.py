"""The heartbeat of trials running in a journal file, which optuna gives only to RDB."""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

_HEARTBEAT_ATTR = "dos_estimators:heartbeat"


class _JournalHeartbeat:
    """The heartbeat of running trials in a journal file, which optuna gives only to RDB.

    Optuna's own heartbeat protocol (``optuna.storages._heartbeat``) is private, so this one
    is built on the public storage API and run by :func:`tune` itself: while a trial's
    objective runs, :meth:`beating` writes the time into the trial's system attribute
    ``"dos_estimators:heartbeat"`` every ``interval`` seconds; :meth:`fail_stale_trials`,
    called before the first trial and after each one, fails the running trials whose last
    beat is older than ``grace_period`` and hands each to ``stale_trial_callback``
    (``RetryHeartbeatStaleTrialCallback`` re-queues it). A running trial without a beat
    (one run by plain optuna, say) is left alone. Workers sharing a journal file must share
    a clock (one machine, or machines kept in time by NTP).

    Parameters
    ----------
    storage : optuna.storages.JournalStorage
        The journal storage of the study.
    interval : float
        Seconds between beats.
    grace_period : float or None
        Seconds without a beat after which a running trial is stale; ``None`` or 0 means
        ``2 * interval``.
    stale_trial_callback : callable or None
        ``callback(study, frozen_trial)`` for each trial failed as stale (optuna's
        ``RetryHeartbeatStaleTrialCallback``, say); ``None`` only fails them.
    """

    def __init__(self, storage, interval, grace_period, stale_trial_callback):
        self.storage = storage
        self.interval = interval
        self.grace_period = grace_period or 2 * interval
        self.stale_trial_callback = stale_trial_callback

    def _trial_id(self, study, number):
        """The storage's id of trial ``number`` of ``study``.

        Parameters
        ----------
        study : optuna.Study
        number : int

        Returns
        -------
        int
        """
        study_id = self.storage.get_study_id_from_name(study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def _beat(self, trial_id):
        """Write the time as the last beat of a trial, unless the trial has finished.

        Parameters
        ----------
        trial_id : int
        """
        try:
            self.storage.set_trial_system_attr(trial_id, _HEARTBEAT_ATTR, time.time())
        except UpdateFinishedTrialError:
            # Another worker declared this slow trial dead; its result will be refused.
            pass

    @contextlib.contextmanager
    def beating(self, trial):
        """Beat for ``trial`` while the block runs.

        Parameters
        ----------
        trial : optuna.trial.Trial
            The running trial.

        Yields
        ------
        None
            The block runs after a first beat, while a thread beats every ``interval``
            seconds; the thread stops when the block ends.
        """
        trial_id = self._trial_id(trial.study, trial.number)
        self._beat(trial_id)  # at once: a trial is judged only once it has beaten
        stop = threading.Event()

        def beat_until_stopped():
            while not stop.wait(self.interval):
                self._beat(trial_id)

        thread = threading.Thread(target=beat_until_stopped, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail_stale_trials(self, study, trial=None):
        """Fail, and hand to the callback, the running trials of ``study`` that stopped beating.

        Parameters
        ----------
        study : optuna.Study
            The study whose running trials are judged.
        trial : optuna.trial.FrozenTrial, optional
            Unused: the signature is that of a ``Study.optimize`` callback.
        """
        limit = time.time() - self.grace_period
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        failed = []
        for stale in running:
            if stale.system_attrs.get(_HEARTBEAT_ATTR, math.inf) >= limit:
                continue
            trial_id = self._trial_id(study, stale.number)
            try:
                if self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    failed.append(trial_id)
            except UpdateFinishedTrialError:
                pass  # another worker failed it first, or it just finished
        if self.stale_trial_callback is None:
            return
        for trial_id in failed:
            frozen = copy.deepcopy(self.storage.get_trial(trial_id))
            # A re-queued copy starts without the dead worker's last beat, which would make
            # it stale the moment it runs.
            frozen.system_attrs = {
                key: value for key, value in frozen.system_attrs.items() if key != _HEARTBEAT_ATTR
            }
            self.stale_trial_callback(study, frozen)
