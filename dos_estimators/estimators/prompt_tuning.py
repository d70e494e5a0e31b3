"""Crystal-system prompts of ``DOSTransformerRegressor``: unseen systems and fine-tuning.

A fitted model knows the crystal systems whose prompts it trained (``crystal_systems_``);
a crystal of another system gets the mean prompt, with a warning at predict.
:meth:`~dos_estimators.estimators.DOSTransformerRegressor.fine_tune` trains the prompts
on a few crystals of new systems (the paper's Table 3), one network at a time through
:func:`fine_tuned_net`; the network's side of it is
:meth:`DOSTransformer.prompt_tuning <dos_estimators.nn.DOSTransformer.prompt_tuning>`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._torch import seeded
from .._validation import is_integer, is_real
from ..structures import CRYSTAL_SYSTEMS


def warn_unseen_systems(inputs, trained: list[str], stacklevel: int = 2) -> None:
    """Warn if crystals belong to crystal systems outside ``trained``.

    Parameters
    ----------
    inputs : list of torch_geometric.data.Data
        Graphs with a ``system`` index ``[1]`` into ``CRYSTAL_SYSTEMS``.
    trained : list of str
        The crystal systems whose prompts were trained.
    stacklevel : int, default=2
        Of the warning, counted from the caller of this function.

    Warns
    -----
    UserWarning
        Naming the unseen systems, whose crystals get the mean of the trained prompts.
    """
    systems = [CRYSTAL_SYSTEMS[int(graph.system)] for graph in inputs]
    unseen = [s for s in systems if s not in trained]
    if unseen:
        warnings.warn(
            f"{len(unseen)} of {len(systems)} crystals belong to crystal systems "
            f"that training never saw ({', '.join(sorted(set(unseen)))}); their "
            "predictions use the mean of the trained prompts.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_fine_tuning(estimator, only_prompt, max_epochs, lr) -> float:
    """The learning rate of a fine-tuning, after checking the arguments of ``fine_tune``.

    Parameters
    ----------
    estimator : DOSTransformerRegressor
        Fitted.
    only_prompt, max_epochs, lr
        As passed to ``fine_tune``; ``lr=None`` means a tenth of ``estimator.lr``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        As listed in ``fine_tune``, apart from the targets' grid.
    """
    if not (is_integer(max_epochs) and max_epochs >= 1):
        raise ValueError(f"max_epochs must be an integer of at least 1, got {max_epochs!r}.")
    if not isinstance(only_prompt, (bool, np.bool_)):
        raise ValueError(f"only_prompt must be True or False, got {only_prompt!r}.")
    if only_prompt and estimator.prompt != "learned":
        raise ValueError(
            f"fine_tune(only_prompt=True) trains the learned prompts, but this model has "
            f"prompt={estimator.prompt!r}; use only_prompt=False or fit with prompt='learned'."
        )
    lr = estimator.lr / 10 if lr is None else lr
    if not (is_real(lr) and lr >= 0):
        raise ValueError(f"lr must be a non-negative number, got {lr!r}.")
    return lr


def fine_tuned_net(estimator, net, dataset, systems, *, only_prompt, lr, max_epochs):
    """A new net around ``net``'s network, fine-tuned on ``dataset``.

    Parameters
    ----------
    estimator : DOSTransformerRegressor
        The fitted model ``net`` belongs to.
    net : DOSNeuralNet
        One network of its ensemble; its module is trained in place.
    dataset : DOSDataset
        The new crystals' graphs and scaled DOS ``[n_samples, n_energies_]``.
    systems : list of int
        Indices of their crystal systems.
    only_prompt : bool
    lr : float
    max_epochs : int

    Returns
    -------
    DOSNeuralNet
        A plain net, as the estimator keeps in ``nets_``.
    """
    # Batch order seeded from the network's own training seed, so that
    # fine-tuning is repeatable without drawing from ``random_state``.
    seed = net.iterator_train__generator.initial_seed()
    with net.module_.prompt_tuning(systems, only_prompt=only_prompt) as module:
        with estimator._turns(), seeded(seed, estimator._device):
            new_net = estimator._new_net(
                module,
                seed,
                lr=lr,
                max_epochs=max_epochs,
                train_split=None,
                callbacks=estimator._user_callbacks(),
            )
            new_net.fit(dataset, None)
    return estimator._plain_net(new_net)


def with_systems(trained: list[str], systems) -> list[str]:
    """``trained`` and the crystal systems of indices ``systems``, in ``CRYSTAL_SYSTEMS`` order."""
    seen = set(trained) | {CRYSTAL_SYSTEMS[k] for k in systems}
    return [s for s in CRYSTAL_SYSTEMS if s in seen]
