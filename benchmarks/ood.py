"""Out-of-distribution benchmark on the phonon set: the paper's Table 2 layout (and Table 3).

Each model is trained three times: on a seeded random 80/10/10 split (ID), on
the crystal-system split (train on cubic, hexagonal, tetragonal, trigonal and
orthorhombic; hold out monoclinic and triclinic) and on the species-count
split (train on binary and ternary; hold out unary, quaternary and quinary).
As in the paper, the held-out crystals of an OOD split are halved at random
into validation (early stopping) and test. ``--fine-tune`` then takes 10 % of
each OOD test part, fine-tunes DOSTransformer on it (prompts and decoder only,
and all parameters) and scores the other 90 % before and after.

Each (split, model, seed) fit writes one JSON file to ``--rows`` (default
``docs/data/ood``); the fine-tuning study is stored in the DOSTransformer row of
its OOD split. A fit whose file exists is skipped (a DOSTransformer row without
the fine-tuning that ``--fine-tune`` asks for is fitted again), so the grid can be
spread over several sittings; ``--report`` rebuilds the tables from the JSON files
alone and writes them into ``docs/results.md`` between the ``<!-- ood:begin -->``
and ``<!-- ood:end -->`` markers. A ``--quick`` run always fits and writes its
rows to ``OUT/rows``, never into the docs' data. Every run also writes
``results.json`` to ``--out``.

    python benchmarks/ood.py --quick                    # smoke run (CI-sized)
    python benchmarks/ood.py --device cuda --fine-tune  # full run on a GPU
    python benchmarks/ood.py --seeds 0 1 2 --fine-tune  # three seeds (mean ± std)
    python benchmarks/ood.py --report
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
from bench.cli import add_common_arguments, add_row_arguments, add_seed_arguments, finish_arguments
from bench.fits import SPLITS
from bench.reports import (
    REPORT_METRICS,
    group_rows,
    hardware_note,
    mean_std_cell,
    model_table,
    publish_report,
    row_label,
    seeds_cell,
    split_sizes,
)
from bench.rows import load_fit_rows, row_file_name
from bench.runs import make_folders, run_seeds, stored_rows, write_results

from dos_estimators import dos_report
from dos_estimators.datasets import load_phonon_dos

DEFAULT_MODELS = ["trees", "mlp", "graph_network", "e3nn", "dostransformer"]
FINE_TUNE_FRACTION = 0.1
ROWS = "docs/data/ood"
SCRIPT = "benchmarks/ood.py"
# The options of the command that fits the rows, suggested by a report without any.
FIT_OPTIONS = "--seeds 0 1 2 --fine-tune"
# Raise when the benchmark changes what a row measures: older rows are then refitted.
REVISION = 1
# The fine-tuning study's lines: key, label.
FINE_TUNE_LINES = (
    ("before", "before"),
    ("prompt_only", "prompts + decoder (`only_prompt=True`)"),
    ("all_parameters", "all parameters"),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=DEFAULT_MODELS, out="results/ood")
    add_seed_arguments(parser)
    parser.add_argument("--fine-tune", action="store_true", help="also run the Table 3 study")
    parser.add_argument("--fine-tune-epochs", type=int, default=50)
    add_row_arguments(parser, rows=ROWS, docs="docs/results.md")
    return finish_arguments(parser.parse_args(argv))


def row_file(args, split: str, key: str, seed: int) -> str:
    """File name of one fit's row; it changes whenever the fit's settings do."""
    return row_file_name(args, [split], key, seed, revision=REVISION)


def fine_tuned(args, split: str, key: str) -> bool:
    """Whether the fit of ``key`` on ``split`` is followed by the Table 3 study."""
    return args.fine_tune and key == "dostransformer" and split != "id"


def has_fine_tune(args, split: str, key: str, row: dict) -> bool:
    """Whether a stored row holds the fine-tuning (of ``--fine-tune-epochs``) asked for."""
    if not fine_tuned(args, split, key):
        return True
    return row.get("fine_tune", {}).get("epochs") == args.fine_tune_epochs


def load_rows(folder) -> list[dict]:
    """The OOD rows of ``folder`` that today's settings would write."""
    return load_fit_rows(folder, row_file)


def fine_tune_study(model, X_test, y_test, seed, epochs):
    """Table 3: fine-tune on 10 % of the OOD test crystals, score the other 90 %."""
    order = np.random.default_rng(seed).permutation(len(X_test))
    n_tune = max(1, round(FINE_TUNE_FRACTION * len(X_test)))
    tune, rest = order[:n_tune], order[n_tune:]
    X_tune, y_tune = [X_test[i] for i in tune], y_test[tune]
    X_rest, y_rest = [X_test[i] for i in rest], y_test[rest]
    study = {"n_fine_tune": int(n_tune), "n_scored": len(rest), "epochs": epochs}
    study["before"] = dos_report(y_rest, model.predict(X_rest))
    for label, only_prompt in (("prompt_only", True), ("all_parameters", False)):
        tuned = copy.deepcopy(model)
        start = time.perf_counter()
        tuned.fine_tune(X_tune, y_tune, only_prompt=only_prompt, max_epochs=epochs)
        study[label] = dos_report(y_rest, tuned.predict(X_rest))
        study[label]["seconds"] = time.perf_counter() - start
    return study


def report(rows) -> str:
    """Markdown tables (mean ± std over seeds) built from the JSON rows alone.

    Parameters
    ----------
    rows : list of dict
        :func:`load_rows`'s, one at least; a DOSTransformer row of an OOD split may hold
        its fine-tuning study (``fine_tune``).

    Returns
    -------
    str
        One Table 2 block per split, then the Table 3 fine-tuning study of each OOD
        split whose DOSTransformer rows hold one.
    """
    lines = [
        "Test crystals of each split; mean ± standard deviation (population) over the seeds "
        f"listed. R² per crystal is the paper's R². {hardware_note(rows)}\n"
    ]
    groups = group_rows(rows, "split")
    for split, split_label in SPLITS.items():
        mine = [r for r in rows if r["split"] == split]
        if not mine:
            continue
        title = f"**{split_label}** ({split_sizes(mine)})\n"
        lines += model_table(title, {k: g for k, g in groups.items() if k[0] == split})
    tuned_groups = [(k, [r for r in g if "fine_tune" in r]) for k, g in groups.items()]
    tuned_groups.sort(key=lambda item: list(SPLITS).index(item[0][0]))
    for (split, key, variant), tuned in tuned_groups:
        for epochs in sorted({r["fine_tune"]["epochs"] for r in tuned}):
            mine = [r for r in tuned if r["fine_tune"]["epochs"] == epochs]
            studies = [r["fine_tune"] for r in mine]
            counts = sorted({(s["n_fine_tune"], s["n_scored"]) for s in studies})
            lines += [
                f"**Prompt fine-tuning (Table 3), {SPLITS[split]}**, "
                f"{row_label(key, variant)}, seeds {seeds_cell(mine)}: "
                f"fine-tuned for {epochs} epochs on 10 % of the test crystals, scored before "
                "and after on the other 90 % "
                f"({', '.join(f'{a} tuned, {b} scored' for a, b in counts)})\n",
                "| | MSE×10 | MAE | R² per crystal | R² pooled |",
                "| --- | --- | --- | --- | --- |",
            ]
            for line, label in FINE_TUNE_LINES:
                cells = [mean_std_cell([s[line][m] for s in studies]) for m in REPORT_METRICS]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def print_fine_tune(row) -> None:
    """The fine-tuning study of one row, as lines of text."""
    study = row["fine_tune"]
    print(
        f"\nFine-tuning DOSTransformer on {study['n_fine_tune']} "
        f"{SPLITS[row['split']]} test crystals ({study['epochs']} epochs, "
        f"seed {row['seed']}), scored on the other {study['n_scored']}:"
    )
    for label, _ in FINE_TUNE_LINES:
        t = study[label]
        print(
            f"  {label:15s} MSE×10 {t['mse_x10']:.3f} MAE {t['mae']:.3f} "
            f"R² {t['r2_per_crystal']:.3f} R² pooled {t['r2_pooled']:.3f}"
        )


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return publish_report(args, SCRIPT, ROWS, FIT_OPTIONS, load_rows, report)
    out, folder = make_folders(args, ROWS)

    def path_of(split, key, seed):
        return folder / row_file(args, split, key, seed)

    stored, todo = stored_rows(
        args, folder, path_of, complete=lambda *fit: has_fine_tune(args, *fit)
    )
    phonon = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs) if todo else None

    def fine_tune(split, key, model, data, y_pred, row, indices):
        if fine_tuned(args, split, key):
            row["fine_tune"] = fine_tune_study(
                model, data[2], data[5], row["seed"], args.fine_tune_epochs
            )

    rows = []
    for results in run_seeds(args, phonon, stored, path_of, fine_tune, "Phonon DOS"):
        rows += results.values()
        for row in results.values():
            if "fine_tune" in row:
                print_fine_tune(row)
    return write_results(args, out, folder, rows)


if __name__ == "__main__":
    main()
