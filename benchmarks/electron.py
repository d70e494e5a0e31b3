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
import json
from pathlib import Path

import numpy as np
import torch
from common import (
    MODELS,
    SPLITS,
    add_common_arguments,
    add_row_arguments,
    build,
    command_args,
    finish_arguments,
    fit_record,
    group_rows,
    hardware_note,
    load_row_files,
    mean_std_cell,
    metric_cells,
    no_rows_text,
    print_split_table,
    publish,
    row_label,
    row_name,
    rows_folder,
    run_unstored_splits,
    save_row,
    seeds_cell,
    split_record,
    split_sizes,
    stored_rows,
    training_cells,
)

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
ROWS = "docs/data/electron"
SCRIPT = "benchmarks/electron.py"
# Raise when the benchmark changes what a row measures: older rows are then refitted.
REVISION = 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["all"], out="results/electron")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument(
        "--seeds",
        "--seed",
        dest="seeds",
        nargs="+",
        type=int,
        default=[0],
        help="split and model seeds (mean ± std)",
    )
    parser.add_argument("--dataset", default="edos_gpaw", help="name or path for the loader")
    add_row_arguments(parser, rows=ROWS, docs="docs/results.md")
    return finish_arguments(parser.parse_args(argv))


def dataset_name(dataset: str) -> str:
    """The data set's name in file names and tables: ``edos_gpaw`` for a name or a path."""
    return Path(dataset).stem


def row_file(dataset: str, split: str, key: str, seed: int, args) -> str:
    """File name of one fit's row; it changes whenever the fit's settings do."""
    name = dataset_name(dataset)
    model = build(key, args, seed)
    return row_name([name, split, key, f"seed{seed}"], model, revision=REVISION, dataset=name)


def load_rows(folder) -> list[dict]:
    """The rows of ``folder`` whose file names match today's settings.

    Parameters
    ----------
    folder : str or Path
        Folder of the JSON rows (``docs/data/electron``).

    Returns
    -------
    list of dict
        One row per (data set, split, model, seed) fit.
    """

    def name_of(row):
        if row.get("model") not in MODELS or row.get("split") not in SPLITS:
            return None
        args = command_args(row)
        return row_file(row["dataset"], row["split"], row["model"], row["seed"], args)

    return load_row_files(folder, name_of)


def report(rows, folder) -> str:
    """Markdown tables (mean ± std over seeds), one per data set and split, from the rows alone.

    Parameters
    ----------
    rows : list of dict
        As :func:`load_rows` returns them.
    folder : str or Path
        Where they lie, named when there are none.

    Returns
    -------
    str
        The tables, or a sentence saying that no rows exist yet.
    """
    if not rows:
        return no_rows_text(folder, f"{SCRIPT} --seeds 0 1 2", SCRIPT)
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
            lines += [
                f"**`{dataset_name(dataset)}`, {split_label}** ({split_sizes(mine)}; gap probe "
                f"on the true DOS: {mean_std_cell(list(floors.values()), unit=' eV²')})\n",
                "| model | seeds | MSE×10 | MAE | R² per crystal | R² pooled | gap MSE (eV²) "
                "| epochs | s/epoch |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for (set_, split_, key, variant), group in groups.items():
                if (set_, split_) == (dataset, split):
                    cells = [row_label(key, variant), seeds_cell(group), *metric_cells(group)]
                    cells += [*metric_cells(group, ("gap_mse",)), *training_cells(group)]
                    lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    folder = rows_folder(args, ROWS)
    if args.report:
        text = report(load_rows(folder), folder)
        publish(text, args.docs, "electron", SCRIPT)
        return text
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)

    def path_of(split, key, seed):
        return folder / row_file(args.dataset, split, key, seed, args)

    stored = stored_rows(args, path_of)
    todo = len(args.seeds) * len(args.splits) * len(args.models) - len(stored)
    print(f"{todo} fits to run, {len(stored)} stored in {folder}", flush=True)
    electron = None
    if todo:
        electron = load_electron_dos(args.dataset, data_home=args.data_home, n_jobs=args.n_jobs)
        print(f"{len(electron.structures)} crystals, grid of {electron.dos.shape[1]} energies (eV)")

    rows = []
    for seed in args.seeds:

        def probe(split, key, model, data, y_pred, row, indices, seed=seed):
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
            row.update(
                dataset=dataset_name(args.dataset),
                dataset_source=args.dataset,
                **fit_record(args, seed),
                **split_record(indices, electron.material_ids),
            )
            save_row(path_of(split, key, seed), row)

        results = run_unstored_splits(args, electron, seed, stored, probe)
        rows += results.values()
        print(
            f"\nElectron DOS ({args.dataset}), seed {seed}"
            f"{' (quick)' if args.quick else ''}, {args.device}; gap MSE in eV²"
        )
        print_split_table(results, args.models, METRICS)
        floors = {row["split"]: row["gap_mse_true_dos"] for row in results.values()}
        print(
            "probe on true DOS (floor): "
            + ", ".join(f"{SPLITS[s]} {floor:.3f} eV²" for s, floor in floors.items())
        )
    payload = {
        "dataset": args.dataset,
        "seeds": args.seeds,
        "quick": args.quick,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "rows": str(folder),
        "results": rows,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'results.json'}, rows in {folder}")
    return payload


if __name__ == "__main__":
    main()
