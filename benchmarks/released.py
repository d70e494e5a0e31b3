"""Seconds per training epoch of the authors' released DOSTransformer and of ours, in one run.

Three models train, one after the other in this process, on the same 1,216 training
crystals of the phonon set (the training part of ``train_valid_test_split(...,
random_state=0)``):

- the released phonon model, ``DOSTransformer_phonon`` of the authors' code
  (HeewoongNoh/DOSTransformer), imported from a checkout given by ``--released-repo``
  and trained as its ``main_phDOS.py`` trains it: the argument parser's defaults
  (3 graph-network layers, 2 transformer layers, hidden 256, attention dropout 0,
  lr 1e-4, beta 1, seed 0), one crystal per batch in a shuffled
  ``torch_geometric`` ``DataLoader``, AdamW with weight decay 1e-2, the loss
  RMSE(global) + beta × RMSE(system), float64 (its default dtype). Its input graphs
  are built by its own ``utils.build_data`` (ASE neighbour list within 4 Å with
  self-loops, one-hot atomic masses), from our structures, their DOS, and the
  crystal system that ``dos_estimators.structures.crystal_systems`` finds (the data
  file has no crystal-system column);
- ``DOSTransformerRegressor()`` with its defaults;
- ``DOSTransformerRegressor.paper()``: the released architecture and recipe (one
  crystal per batch) in our code, float32.

An epoch's time is its training loop alone (data loading, forward, backward and
optimizer step for every batch); no model validates during the epochs measured
(the released script validates every fifth epoch). The script prints the median
seconds per epoch of each model and its ratio to ours, and writes them with the
command, date, platform, torch's thread count and the released checkout's commit
to ``--out``. ``--report`` rebuilds the table from that file and writes it into
``docs/performance.md`` between the ``released`` markers.

The released code imports ``torch_scatter`` and ``torch_cluster``, which do not
install here. When ``torch_scatter`` cannot be imported, this script puts a stand-in
module in its place whose functions have torch-scatter's signatures and compute with
``torch_geometric.utils.scatter``; ``torch_cluster.radius_graph`` is a stub that
raises (the released model calls it only for graphs without edges, and these have
them). Its training script does not run as published (``main_phDOS.py`` passes
``out_dim`` where the model expects ``device``, and ``device`` where it expects the
attention dropout), so the model is built here with the arguments it needs.

    git clone https://github.com/HeewoongNoh/DOSTransformer /tmp/DOSTransformer
    git -C /tmp/DOSTransformer checkout 2bce6bc
    python benchmarks/released.py --released-repo /tmp/DOSTransformer
    python benchmarks/released.py --released-repo /tmp/DOSTransformer --epochs 1 \\
        --max-batches 20 --ours-max-batches 20 --out /tmp/released.json   # a quick look
    python benchmarks/released.py --report          # writes docs/performance.md's block

``--max-batches K`` times the first K batches of each released epoch and extrapolates
to the whole epoch (a full epoch at batch size 1 takes a minute or more on a CPU);
``--ours-max-batches K`` trains our two models on their first K batches' worth of
crystals and extrapolates likewise. Extrapolated figures are marked as such in the
table. Run it on an otherwise idle machine: anything else running changes the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch_geometric.utils  # before any torch_scatter stand-in: torch_geometric probes for it
from bench.measure import add_json_report_arguments
from bench.reports import write_docs_block
from sklearn.exceptions import ConvergenceWarning

from dos_estimators import DOSTransformerRegressor
from dos_estimators.structures import crystal_systems

# Folder of the released checkout when --released-repo is not given.
RELEASED_REPO_ENV = "DOS_ESTIMATORS_RELEASED_REPO"
# The commit the released code was read at (docs/differences.md).
RELEASED_COMMIT = "2bce6bc"

# What main_phDOS.py fixes in its code rather than in its argument parser.
RELEASED_FIXED = {
    "batch_size": 1,
    "n_atom_feats": 118,
    "n_bond_feats": 4,
    "weight_decay": 1e-2,
    "r_max": 4.0,
}
# Argument-parser defaults of the released utils.parse_args that decide the training.
RELEASED_ARGUMENTS = ("layers", "transformer", "hidden", "attn_drop", "lr", "beta", "seed")

# key: table label
MODELS = {
    "released": "released code (`DOSTransformer_phonon`, `main_phDOS.py` settings)",
    "ours": "ours: `DOSTransformerRegressor()`",
    "paper": "ours: `DOSTransformerRegressor.paper()`",
}


# -- the released code's imports -----------------------------------------------------------
def _scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
    """``torch_scatter.scatter`` for a one-dimensional ``index``, without ``out``."""
    if out is not None:
        raise NotImplementedError("the torch_scatter stand-in does not take `out`")
    if index.dim() != 1:
        raise NotImplementedError("the torch_scatter stand-in takes a one-dimensional index")
    return torch_geometric.utils.scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)


def _reduction(reduce):
    def reduction(src, index, dim=-1, out=None, dim_size=None):
        return _scatter(src, index, dim=dim, out=out, dim_size=dim_size, reduce=reduce)

    reduction.__name__ = f"scatter_{reduce}"
    reduction.__doc__ = f"``torch_scatter.scatter_{reduce}`` through ``torch_geometric``."
    return reduction


def scatter_module() -> types.ModuleType:
    """A stand-in for ``torch_scatter``: its reductions through ``torch_geometric.utils.scatter``.

    Returns
    -------
    types.ModuleType
        Named ``torch_scatter``, with ``scatter(src, index, dim=-1, out=None,
        dim_size=None, reduce="sum")`` and ``scatter_sum``, ``scatter_add``,
        ``scatter_mean`` and ``scatter_mul`` (the same without ``reduce``), as
        torch-scatter defines them, for a one-dimensional ``index`` and no ``out``
        (which raise ``NotImplementedError``).
    """
    module = types.ModuleType("torch_scatter", "torch_scatter stand-in (torch_geometric scatter)")
    module.scatter = _scatter
    for reduce in ("sum", "add", "mean", "mul"):
        setattr(module, f"scatter_{reduce}", _reduction(reduce))
    return module


def cluster_module() -> types.ModuleType:
    """A stand-in for ``torch_cluster`` whose ``radius_graph`` raises.

    Returns
    -------
    types.ModuleType
        Named ``torch_cluster``. The released model calls ``radius_graph`` only for
        input without ``edge_index``; every graph built here has one.
    """

    def radius_graph(*args, **kwargs):
        raise NotImplementedError("torch_cluster is not installed; give graphs an edge_index")

    module = types.ModuleType("torch_cluster", "torch_cluster stub")
    module.radius_graph = radius_graph
    return module


def import_released(repo: Path) -> tuple[types.SimpleNamespace, str]:
    """Import the released phonon model and data builder from a checkout.

    Parameters
    ----------
    repo : pathlib.Path
        Work tree of HeewoongNoh/DOSTransformer.

    Returns
    -------
    code : types.SimpleNamespace
        ``model_class`` (``embedder_phDOS.DOSTransformer_phonon.DOSTransformer_phonon``)
        and the released ``utils`` module.
    scatter : str
        Which ``torch_scatter`` the released code runs with.
    """
    repo = Path(repo).resolve()
    if not (repo / "embedder_phDOS" / "DOSTransformer_phonon.py").is_file():
        raise SystemExit(f"{repo} is not a work tree of HeewoongNoh/DOSTransformer")
    try:
        import torch_scatter

        scatter = f"torch_scatter {torch_scatter.__version__}"
    except ImportError:
        sys.modules["torch_scatter"] = scatter_module()
        scatter = "stand-in through torch_geometric.utils.scatter"
    if importlib.util.find_spec("torch_cluster") is None:
        sys.modules["torch_cluster"] = cluster_module()
    sys.path.insert(0, str(repo))
    model_module = importlib.import_module("embedder_phDOS.DOSTransformer_phonon")
    utils = importlib.import_module("utils")
    for module in (model_module, utils):
        if repo not in Path(module.__file__).resolve().parents:
            raise SystemExit(f"{module.__name__} was imported from {module.__file__}, not {repo}")
    code = types.SimpleNamespace(model_class=model_module.DOSTransformer_phonon, utils=utils)
    return code, scatter


def released_arguments(utils) -> dict:
    """The defaults of the released argument parser that decide the model and its training."""
    with mock.patch.object(sys, "argv", ["main_phDOS.py"]):
        parsed = utils.parse_args()
    return {name: getattr(parsed, name) for name in RELEASED_ARGUMENTS}


def git_commit(repo: Path) -> dict:
    """Commit of the released checkout and whether its tracked files were changed."""

    def git(*words):
        done = subprocess.run(
            ["git", "-C", str(repo), *words], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else None

    changed = git("status", "--porcelain", "--untracked-files=no")
    # None: git could not tell (not a git work tree, or no git).
    return {
        "commit": git("rev-parse", "HEAD"),
        "modified": None if changed is None else bool(changed),
    }


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Set torch's default dtype for the block (the released script sets float64)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def released_graphs(code, structures, dos, dtype) -> list:
    """The released code's input ``Data`` of each crystal, built by its ``utils.build_data``.

    Parameters
    ----------
    code : types.SimpleNamespace
        As returned by :func:`import_released`.
    structures : list of pymatgen.core.Structure
    dos : numpy.ndarray of shape (n_crystals, 51)
    dtype : torch.dtype
        Floating dtype of every floating tensor.

    Returns
    -------
    list of torch_geometric.data.Data
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    # build_data compares the data file's capitalised names, in this order of indices.
    names = [name.capitalize() for name in crystal_systems(structures)]
    graphs = []
    for i, (structure, target, system) in enumerate(zip(structures, dos, names, strict=True)):
        entry = types.SimpleNamespace(
            structure=AseAtomsAdaptor.get_atoms(structure),
            crystal_system=system,
            phdos=np.asarray(target, dtype=np.float64),
            mp_id=str(i),
        )
        graph = code.utils.build_data(entry, RELEASED_FIXED["r_max"])
        for key, value in list(graph.items()):
            if torch.is_tensor(value) and value.is_floating_point():
                graph[key] = value.to(dtype)
        graphs.append(graph)
    return graphs


# -- timing ------------------------------------------------------------------------------------
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_released(code, graphs, args) -> dict:
    """Train the released model for ``args.epochs`` epochs; time each epoch's training loop.

    Parameters
    ----------
    code : types.SimpleNamespace
        As returned by :func:`import_released`.
    graphs : list of torch_geometric.data.Data
        The training crystals, from :func:`released_graphs`.
    args : argparse.Namespace

    Returns
    -------
    dict
        The settings, parameter count, seconds of each epoch (extrapolated to the
        whole epoch when ``--max-batches`` stops it early) and their median.
    """
    from torch_geometric.loader import DataLoader

    settings = {**released_arguments(code.utils), **RELEASED_FIXED, "dtype": args.released_dtype}
    device = torch.device(args.device)
    # main_phDOS.py seeds Python's, NumPy's and torch's generators; only torch's is drawn
    # from here (initial weights, then the loader's shuffling).
    torch.manual_seed(settings["seed"])
    model = code.model_class(
        settings["layers"],
        settings["transformer"],
        settings["n_atom_feats"],
        settings["n_bond_feats"],
        settings["hidden"],
        device,
        settings["attn_drop"],
    ).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    mse = torch.nn.MSELoss()
    loader = DataLoader(graphs, batch_size=settings["batch_size"], shuffle=True)
    n_batches = len(loader)
    timed = min(args.max_batches or n_batches, n_batches)
    epoch_seconds = []
    for epoch in range(args.epochs):
        model.train()
        _synchronize(device)
        start = time.perf_counter()
        done = 0
        for batch in loader:
            batch = batch.to(device)
            preds_global, _, preds_system = model(batch)
            loss = torch.sqrt(mse(preds_global, batch.phdos)) + settings["beta"] * torch.sqrt(
                mse(preds_system, batch.phdos)
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == timed:
                break
        _synchronize(device)
        seconds = (time.perf_counter() - start) * n_batches / done
        epoch_seconds.append(seconds)
        print(f"  epoch {epoch + 1}: {seconds:.2f} s (last loss {loss.item():.4f})", flush=True)
    return {
        "settings": settings,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "batches_per_epoch": n_batches,
        "batches_timed": timed,
        "extrapolated": timed < n_batches,
        "epoch_seconds": epoch_seconds,
        "median_epoch_seconds": float(np.median(epoch_seconds)),
        "last_batch_loss": loss.item(),
    }


def time_ours(model, X_train, y_train, args) -> dict:
    """Fit one of our estimators for ``args.epochs`` epochs without validation; time its epochs.

    Parameters
    ----------
    model : DOSTransformerRegressor
        Unfitted.
    X_train : list of pymatgen.core.Structure
        The training crystals.
    y_train : numpy.ndarray of shape (n_crystals, 51)
        Their DOS.
    args : argparse.Namespace

    Returns
    -------
    dict
        As :func:`time_released`, from skorch's epoch durations (the training loop
        alone: nothing is validated), extrapolated to all of ``X_train`` when
        ``--ours-max-batches`` trains on fewer crystals.
    """
    n_batches = math.ceil(len(X_train) / model.batch_size)
    timed = min(args.ours_max_batches or n_batches, n_batches)
    n_crystals = min(len(X_train), timed * model.batch_size)
    model.set_params(
        max_epochs=args.epochs, validation_fraction=None, device=args.device, random_state=0
    )
    with warnings.catch_warnings():
        # "still improving after max_epochs": of course, after a few epochs.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train[:n_crystals], y_train[:n_crystals])
    epoch_seconds = [d * n_batches / timed for d in model.net_.history[:, "dur"]]
    for epoch, seconds in enumerate(epoch_seconds):
        print(f"  epoch {epoch + 1}: {seconds:.2f} s", flush=True)
    return {
        "settings": {"batch_size": model.batch_size, "hidden": model.hidden, "dtype": "float32"},
        "n_parameters": sum(p.numel() for p in model.net_.module_.parameters()),
        "batches_per_epoch": n_batches,
        "batches_timed": timed,
        "extrapolated": timed < n_batches,
        "epoch_seconds": epoch_seconds,
        "median_epoch_seconds": float(np.median(epoch_seconds)),
    }


# -- report -----------------------------------------------------------------------------------
def table(result: dict) -> str:
    """The Markdown table and its notes, from the JSON that a run wrote."""
    rows = result["models"]
    ours = rows["ours"]["median_epoch_seconds"] if "ours" in rows else None
    lines = [
        "| model | crystals per batch | parameters | s/epoch (median; each epoch) | × ours "
        "(median; epoch by epoch) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, row in rows.items():
        each = ", ".join(f"{e:.1f}" for e in row["epoch_seconds"])
        seconds = f"{row['median_epoch_seconds']:.1f} ({each})"
        if row["extrapolated"]:
            timed, total = row["batches_timed"], row["batches_per_epoch"]
            seconds += f", extrapolated from {timed} of {total} batches"
        ratio = "—"
        if ours:
            pairs = zip(row["epoch_seconds"], rows["ours"]["epoch_seconds"], strict=False)
            by_epoch = ", ".join(f"{mine / theirs:.1f}" for mine, theirs in pairs)
            ratio = f"{row['median_epoch_seconds'] / ours:.1f}× ({by_epoch})"
        lines.append(
            f"| {MODELS[key]} | {row['settings']['batch_size']} | {row['n_parameters']:,} | "
            f"{seconds} | {ratio} |"
        )
    text = "\n".join(lines)
    released = rows.get("released")
    lead = (
        "Seconds per training epoch of the authors' released phonon model, imported from "
        "their code and trained with its own settings, and of ours, on the same training "
        "crystals in one run. Compare the ratios: the machine's speed drifts between runs, "
        "and within one (the models train one after the other; the first epoch of each also "
        "pays for warming up)."
    )
    notes = [
        f"Measured {result['date']} by `{result['command']}`: {result['n_train']} training "
        f"crystals, {result['epochs']} epoch{'s' if result['epochs'] != 1 else ''} per model, "
        f"median seconds per epoch (training loop only, no validation), device "
        f"{result['device']}, {result['torch_threads']} torch thread"
        f"{'s' if result['torch_threads'] != 1 else ''} on {result['cores']} cores, "
        f"torch {result['torch_version']}, {result['platform']}."
    ]
    if released:
        repo = result["released_repo"]
        commit = (repo["commit"] or "unknown")[:7]
        if repo["modified"]:
            commit += " with local changes"
        settings = released["settings"]
        notes.append(
            f"Released code at commit {commit}, {settings['dtype']}, "
            f"lr {settings['lr']:g}, weight decay {settings['weight_decay']:g}, "
            f"{settings['layers']} graph-network layers, {settings['transformer']} transformer "
            f"layers, hidden {settings['hidden']}, attention dropout {settings['attn_drop']:g}; "
            f"torch_scatter: {result['torch_scatter']}."
        )
        if "paper" in rows:
            same = released["median_epoch_seconds"] / rows["paper"]["median_epoch_seconds"]
            notes.append(
                f"The released model takes {same:.1f} times as long per epoch as the same "
                "architecture and batch size in our code (`.paper()`), which computes in "
                "float32 where the released script sets float64 and holds only the parameters "
                "the released forward pass uses: the arithmetic type is part of the gap."
            )
    return lead + "\n\n" + text + "\n\n" + " ".join(notes) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--released-repo",
        type=Path,
        default=os.environ.get(RELEASED_REPO_ENV) or None,
        help=f"work tree of the released code (default: ${RELEASED_REPO_ENV})",
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=2, help="epochs per model (median)")
    parser.add_argument(
        "--max-batches",
        type=int,
        help="time this many batches of each released epoch and extrapolate",
    )
    parser.add_argument(
        "--ours-max-batches",
        type=int,
        help="train our models on this many batches' worth of crystals and extrapolate",
    )
    parser.add_argument(
        "--released-dtype",
        default="float64",
        choices=["float64", "float32"],
        help="default dtype of the released model (its script sets float64)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    add_json_report_arguments(parser, "released", "docs/performance.md")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.report:
        text = table(json.loads(out.read_text()))
        print(text)
        write_docs_block(text, Path(args.docs), "released", "benchmarks/released.py")
        print(f"wrote {args.docs}")
        return
    if "released" in args.models and args.released_repo is None:
        parser.error(
            f"the released model needs --released-repo or ${RELEASED_REPO_ENV} (a work tree "
            f"of HeewoongNoh/DOSTransformer at {RELEASED_COMMIT})"
        )
    if args.threads:
        torch.set_num_threads(args.threads)

    from dos_estimators.datasets import load_phonon_dos
    from dos_estimators.model_selection import train_valid_test_split

    data = load_phonon_dos(data_home=args.data_home)
    X_train, X_valid, X_test, y_train, y_valid, _ = train_valid_test_split(
        data.structures, data.dos, random_state=0
    )
    result = {
        "command": "python benchmarks/released.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "device": args.device,
        "n_train": len(X_train),
        "epochs": args.epochs,
        "models": {},
    }
    for key in args.models:
        print(f"{MODELS[key]} …", flush=True)
        if key == "released":
            code, result["torch_scatter"] = import_released(args.released_repo)
            result["released_repo"] = git_commit(args.released_repo)
            commit = result["released_repo"]["commit"] or "unknown"
            if not commit.startswith(RELEASED_COMMIT) or result["released_repo"]["modified"]:
                print(f"  note: the checkout is at {commit}, not {RELEASED_COMMIT} as released")
            dtype = getattr(torch, args.released_dtype)
            with default_dtype(dtype):
                graphs = released_graphs(code, X_train, y_train, dtype)
                result["models"][key] = time_released(code, graphs, args)
        else:
            model = DOSTransformerRegressor() if key == "ours" else DOSTransformerRegressor.paper()
            result["models"][key] = time_ours(model, X_train, y_train, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
