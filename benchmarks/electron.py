"""Electron DOS benchmark on the GPAW set: every model, ID and OOD splits, and a band-gap probe.

The set's DOS are put on the Materials Project grid (201 energies, −5 to 5 eV
around the Fermi level, max-scaled, Savitzky–Golay smoothed) by
``load_electron_dos``. Every model is trained on a seeded random 80/10/10
split and, where the set's counts allow, on the crystal-system and
species-count OOD splits. Beside MSE×10, MAE, R² (per crystal, as in the
paper) and pooled R², the "physical validity"
column is the band-gap error of a probe (extra trees) trained from the true
DOS of the training crystals to their gap and then fed each model's
predicted test DOS (``metrics.property_probe_score``); the "true DOS" line is
the probe's own floor.

Each (split, model, seed) fit writes one JSON file to ``--rows`` (default
``docs/data/electron``), named after the data set, split, model and seed. A fit
whose file exists is skipped, so the grid can be spread over several sittings;
``--report`` rebuilds the tables from the JSON files alone and writes them into
``docs/results.md`` between the ``<!-- electron:begin -->`` and
``<!-- electron:end -->`` markers. A ``--quick`` run always fits and writes its
rows to ``OUT/rows``, never into the docs' data. Every run also writes
``results.json`` to ``--out``.

    python benchmarks/electron.py --quick
    python benchmarks/electron.py --models all --device cuda
    python benchmarks/electron.py --seeds 0 1 2
    python benchmarks/electron.py --report
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench.cli import add_common_arguments, add_row_arguments, add_seed_arguments, finish_arguments
from bench.fits import SPLITS
from bench.reports import (
    group_rows,
    hardware_note,
    mean_std_cell,
    model_table,
    publish_report,
    split_sizes,
)
from bench.rows import load_fit_rows, row_file_name
from bench.runs import make_folders, run_seeds, stored_rows, write_results

from dos_estimators.datasets import load_electron_dos
from dos_estimators.metrics import property_probe_score

METRICS = (
    ("mse_x10", "MSE×10"),
    ("mae", "MAE"),
    ("r2_per_crystal", "R²"),
    ("r2_pooled", "R² pooled"),
    ("gap_mse", "gap MSE"),
    ("seconds_per_epoch", "s/epoch"),
)
# The tables' column beside the four metrics of every table.
GAP_COLUMN = (("gap_mse", "gap MSE (eV²)"),)
ROWS = "docs/data/electron"
SCRIPT = "benchmarks/electron.py"
# The options of the command that fits the rows, suggested by a report without any.
FIT_OPTIONS = "--seeds 0 1 2"
# Raise when the benchmark changes what a row measures: older rows are then refitted.
REVISION = 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["all"], out="results/electron")
    add_seed_arguments(parser)
    parser.add_argument("--dataset", default="edos_gpaw", help="name or path for the loader")
    add_row_arguments(parser, rows=ROWS, docs="docs/results.md")
    return finish_arguments(parser.parse_args(argv))


def dataset_name(dataset: str) -> str:
    """The data set's name in file names and tables: ``edos_gpaw`` for a name or a path."""
    return Path(dataset).stem


def row_file(args, dataset: str, split: str, key: str, seed: int) -> str:
    """File name of one fit's row; it changes whenever the fit's settings do."""
    name = dataset_name(dataset)
    return row_file_name(args, [name, split], key, seed, revision=REVISION, dataset=name)


def load_rows(folder) -> list[dict]:
    """The electron rows of ``folder`` that today's settings would write."""
    return load_fit_rows(folder, row_file, where=("dataset", "split"))


def report(rows) -> str:
    """Markdown tables (mean ± std over seeds), one per data set and split, from the rows alone.

    Parameters
    ----------
    rows : list of dict
        :func:`load_rows`'s, one at least; each names its ``dataset`` and holds the gap
        probe's floor (``gap_mse_true_dos``) beside its ``gap_mse``.

    Returns
    -------
    str
        A table per data set and split, headed by the gap probe's floor.
    """
    lines = [
        "Test crystals of each split; mean ± standard deviation (population) over the seeds "
        "listed. R² per crystal is the paper's R². gap MSE (eV²) is the band-gap error of "
        "the probe (extra trees from the true DOS of the training crystals to their gap) fed "
        f"each model's predicted test DOS; its floor is the same probe on the true test DOS. "
        f"{hardware_note(rows)}\n"
    ]
    groups = group_rows(rows, "dataset", "split")
    for dataset in sorted({r["dataset"] for r in rows}):
        for split, split_label in SPLITS.items():
            mine = [r for r in rows if (r["dataset"], r["split"]) == (dataset, split)]
            if not mine:
                continue
            floors = {r["seed"]: r["gap_mse_true_dos"] for r in mine}
            floor = mean_std_cell(list(floors.values()), unit=" eV²")
            title = (
                f"**`{dataset_name(dataset)}`, {split_label}** ({split_sizes(mine)}; "
                f"gap probe on the true DOS: {floor})\n"
            )
            table = {k: g for k, g in groups.items() if k[:2] == (dataset, split)}
            lines += model_table(title, table, GAP_COLUMN)
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return publish_report(args, SCRIPT, ROWS, FIT_OPTIONS, load_rows, report)
    out, folder = make_folders(args, ROWS)

    def path_of(split, key, seed):
        return folder / row_file(args, args.dataset, split, key, seed)

    stored, todo = stored_rows(args, folder, path_of)
    electron = None
    if todo:
        electron = load_electron_dos(args.dataset, data_home=args.data_home, n_jobs=args.n_jobs)
        print(f"{len(electron.structures)} crystals, grid of {electron.dos.shape[1]} energies (eV)")

    def probe(split, key, model, data, y_pred, row, indices):
        gap = np.asarray(electron.gap)
        y_train, y_test = data[3], data[5]
        gap_train, gap_test = gap[indices[0]], gap[indices[2]]
        # Materials without a known gap (NaN) are left out of the probe.
        train, test = np.isfinite(gap_train), np.isfinite(gap_test)
        found = property_probe_score(
            y_train[train],
            gap_train[train],
            y_pred[test],
            gap_test[test],
            dos_true=y_test[test],
        )
        row["test"]["gap_mse"] = found["mse"]
        row["gap_mse_true_dos"] = found["mse_true_dos"]
        row.update(dataset=dataset_name(args.dataset), dataset_source=args.dataset)

    rows = []
    title = f"Electron DOS ({args.dataset})"
    seeds = run_seeds(args, electron, stored, path_of, probe, title, "; gap MSE in eV²", METRICS)
    for results in seeds:
        rows += results.values()
        floors = {row["split"]: row["gap_mse_true_dos"] for row in results.values()}
        print(
            "probe on true DOS (floor): "
            + ", ".join(f"{SPLITS[s]} {floor:.3f} eV²" for s, floor in floors.items())
        )
    return write_results(args, out, folder, rows, dataset=args.dataset)


if __name__ == "__main__":
    main()
