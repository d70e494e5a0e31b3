"""The skorch side of the regressors: datasets, nets, accelerate, the CPU-turns callback.

A regressor trains one :class:`DOSNeuralNet` per ensemble member (an
:class:`AcceleratedDOSNeuralNet` under ``device="accelerate"``); :func:`new_net` builds
it with the regressor's training settings.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin
from torch.utils.data import Dataset

from .._cpu import pause

PREDICT_BATCH_SIZE = 256
"""Batch size of prediction (and validation): larger batches predict faster."""

ACCELERATE = "accelerate"
"""The ``device`` that hands training to Hugging Face accelerate (several GPUs, processes)."""


class DOSDataset(Dataset):
    """Model inputs (crystal graphs or feature rows) with optional DOS targets.

    Parameters
    ----------
    inputs : list of torch_geometric.data.Data, or torch.Tensor of shape [n_samples, F]
    targets : torch.Tensor of shape [n_samples, n_energies], optional
        Without targets each item pairs the input with an empty tensor.
    """

    def __init__(self, inputs, targets: torch.Tensor | None = None):
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i):
        target = self.targets[i] if self.targets is not None else torch.empty(0)
        return self.inputs[i], target


class DOSNeuralNet(NeuralNet):
    """skorch ``NeuralNet`` whose batches are PyG ``Batch`` objects or plain tensors."""

    def infer(self, x, **fit_params):
        return self.module_(x.to(self.device), **fit_params)


class CPUTurns(Callback):
    """After every training and validation batch, let a waiting fit take its turn.

    Does nothing unless CPU sharing is on (``DOS_ESTIMATORS_CPU_LOCKS``, see
    :mod:`dos_estimators._cpu`): then it costs a clock reading per batch.
    """

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        pause()


def require_accelerate():
    """The ``accelerate`` package, or an ImportError that says how to install it."""
    try:
        import accelerate
    except ImportError as error:
        raise ImportError(
            "device='accelerate' needs the accelerate package: "
            "pip install 'dos_estimators[accelerate]'"
        ) from error
    return accelerate


class AcceleratedDOSNeuralNet(AccelerateMixin, DOSNeuralNet):
    """A ``DOSNeuralNet`` that Hugging Face accelerate places, shards and synchronises.

    Under ``accelerate launch`` each process trains on its share of every epoch's
    batches and the gradients are averaged across processes (data parallel);
    validation gathers every process's predictions. It only trains: the estimators
    keep each trained network as a plain :class:`DOSNeuralNet` (see :func:`plain_net`).
    """

    def infer(self, x, **fit_params):
        return self.module_(x.to(self.accelerator.device), **fit_params)


def _discard(*args, **kwargs) -> None:
    """A print sink that prints nothing (an accelerated net's log with ``verbose=0``)."""


def _accelerated_placement(module, verbose) -> dict:
    """The net arguments that hand ``module`` to a new ``accelerate.Accelerator``."""
    accelerate = require_accelerate()
    handlers = []
    if getattr(module, "atom_encoder", None) is not None:
        # A fine-tuned potential's layers after the features it gives (its own
        # energy read-out) get no gradient, which data-parallel training must expect.
        handlers.append(accelerate.DistributedDataParallelKwargs(find_unused_parameters=True))
    accelerator = accelerate.Accelerator(kwargs_handlers=handlers)
    return {
        "accelerator": accelerator,
        "device": None,
        # skorch hands every line to a sink other than print, whatever verbose says.
        "callbacks__print_log__sink": accelerator.print if verbose else _discard,
    }


def new_net(estimator, module, seed, *, lr, max_epochs, train_split, callbacks, param_groups):
    """A skorch net around ``module`` with ``estimator``'s training settings.

    With ``device="accelerate"`` it is skorch's ``AccelerateMixin`` net, with a new
    ``accelerate.Accelerator`` that reads its settings (processes, mixed precision)
    from ``accelerate launch``/``accelerate config``. The :class:`CPUTurns` callback
    comes first.
    """
    if estimator.device == ACCELERATE:
        net_class = AcceleratedDOSNeuralNet
        placement = _accelerated_placement(module, estimator.verbose)
    else:
        net_class, placement = DOSNeuralNet, {"device": estimator.device}
    if param_groups:
        placement["optimizer__param_groups"] = param_groups
    return net_class(
        module=module,
        criterion=estimator._build_criterion(),
        optimizer=torch.optim.AdamW,
        lr=lr,
        optimizer__weight_decay=estimator.weight_decay,
        max_epochs=max_epochs,
        batch_size=estimator.batch_size,
        iterator_train__shuffle=True,
        iterator_train__collate_fn=estimator._collate,
        iterator_train__generator=torch.Generator().manual_seed(seed),
        iterator_valid__collate_fn=estimator._collate,
        # Inference needs no small batches: larger ones predict faster.
        iterator_valid__batch_size=max(estimator.batch_size, PREDICT_BATCH_SIZE),
        train_split=train_split,
        callbacks=[("cpu_turns", CPUTurns()), *callbacks],
        verbose=int(estimator.verbose),
        **placement,
    )


def plain_net(net) -> DOSNeuralNet:
    """A network that accelerate trained, as a plain ``DOSNeuralNet`` on its device.

    It predicts without accelerate (every process predicts all its inputs, with the
    weights that data-parallel training made identical in every process), pickles
    and saves; skorch's accelerated net holds accelerate's optimizer and scheduler
    wrappers, which do neither.
    """
    if not isinstance(net, AcceleratedDOSNeuralNet):
        return net
    params = net.get_params(deep=False)
    for name in ("accelerator", "unwrap_after_train", "callbacks__print_log__sink"):
        params.pop(name, None)
    params.update(module=net.module_, device=str(net.accelerator.device))
    plain = DOSNeuralNet(**params).initialize()
    plain.history = net.history
    return plain
