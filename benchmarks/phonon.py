"""Phonon DOS benchmark: the paper's Table 1 phonon block and the tree reference.

Every model is trained on the same seeded 80/10/10 split of the phonon set
(early stopping on the validation tenth; the trees train on the training part)
and scored on the test tenth: MSE×10, MAE, R² (per crystal, averaged over
crystals, as the paper computes it), pooled R² (of the flattened arrays),
seconds per epoch, fit time and prediction throughput, with the paper's numbers
alongside. Several seeds give mean ± std. Writes ``results.json`` and
``predictions.png`` to ``--out``.

Each (model, seed) fit also writes one JSON file to ``--rows`` (default
``docs/data/phonon``): the measurements above, the command and machine, the test
crystals' material ids, and their heat capacity and entropy at 300 K from the
predicted and from the true DOS (read by ``benchmarks/thermo.py --report``). A fit
whose file exists is skipped, so the grid can be spread over several sittings;
``--report`` rebuilds the table from the JSON files alone and writes it into
``docs/results.md`` between the ``<!-- phonon:begin -->`` and
``<!-- phonon:end -->`` markers. A ``--quick`` run always fits and writes its rows
to ``OUT/rows``, never into the docs' data.

    python benchmarks/phonon.py --quick --models all   # smoke run of every row (CI)
    python benchmarks/phonon.py                        # DOSTransformer, full run
    python benchmarks/phonon.py --models all --seeds 0 1 2 --device cuda
    python benchmarks/phonon.py --report
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from bench.cli import add_common_arguments, add_row_arguments, add_seed_arguments, finish_arguments
from bench.fits import run_row, split_data, split_indices
from bench.models import MODELS, build
from bench.reports import group_rows, hardware_note, model_table, publish_report, split_sizes
from bench.rows import fit_record, load_fit_rows, read_stored, row_file_name, save_row, split_record
from bench.runs import make_folders, run_record
from bench.thermo_rows import thermo_record

from dos_estimators.datasets import load_phonon_dos

# Lee et al. (NeurIPS 2023), Table 1 phonon DOS: MSE×10, MAE, R² (per crystal) of the
# rows we have.
PAPER = {
    "mlp": (0.309, 0.106, 0.576),
    "graph_network": (0.259, 0.099, 0.638),
    "e3nn": (0.210, 0.077, 0.705),
    "dostransformer": (0.191, 0.071, 0.733),
}
ROWS = "docs/data/phonon"
SCRIPT = "benchmarks/phonon.py"
# The options of the command that fits the rows, suggested by a report without any.
FIT_OPTIONS = "--models all --seeds 0 1 2"
# Raise when the benchmark changes what a row measures: older rows are then refitted.
REVISION = 1
# Test crystals whose predicted DOS a row keeps, for predictions.png.
N_EXAMPLES = 6


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["dostransformer"], out="results/phonon", verbose=1)
    add_seed_arguments(parser, splits=False)
    add_row_arguments(parser, rows=ROWS, docs="docs/results.md")
    return finish_arguments(parser.parse_args(argv))


def row_file(args, key: str, seed: int) -> str:
    """File name of one fit's row; it changes whenever the fit's settings do."""
    return row_file_name(args, [], key, seed, revision=REVISION)


def load_rows(folder) -> list[dict]:
    """The phonon rows of ``folder`` that today's settings would write (read by thermo.py)."""
    return load_fit_rows(folder, row_file, where=())


def fit(key: str, seed: int, args, data, indices) -> dict:
    """Fit one model on one seed's split and measure it: the row it stores.

    Parameters
    ----------
    key : str
        Row of :data:`bench.models.MODELS`.
    seed : int
        Split and model seed.
    args : argparse.Namespace
        The command line.
    data : Bunch
        The phonon set, as ``load_phonon_dos`` returns it.
    indices : tuple of ndarray
        (train, valid, test) indices of the split.

    Returns
    -------
    dict
        :func:`bench.fits.run_row`'s row with the command and machine, the split's test
        crystals, C_V and S at 300 K of each test crystal from the predicted and the
        true DOS (``thermo``), and the predicted DOS of the first test crystals
        (``example_dos``).
    """
    split = split_data(data.structures, data.dos, indices)
    row, y_pred = run_row(key, build(key, args, seed), split)
    row.update(split="id", **fit_record(args, seed))
    row.update(split_record(indices, data.material_ids))
    row["thermo"] = thermo_record(split[5], y_pred, data.energies, split[2])
    row["example_dos"] = np.asarray(y_pred[:N_EXAMPLES], dtype=float).tolist()
    return row


def report(rows) -> str:
    """The Markdown table (mean ± std over seeds) built from the JSON rows alone.

    Parameters
    ----------
    rows : list of dict
        :func:`load_rows`'s, one at least, each with its prediction throughput.

    Returns
    -------
    str
        One table, a line per model and variant, beside the paper's numbers.
    """
    title = (
        f"Test crystals of the seeded 80/10/10 split ({split_sizes(rows)}); mean ± "
        "standard deviation (population) over the seeds listed. R² per crystal is the paper's "
        "R²; struct/s is prediction throughput (graphs + network). "
        f"{hardware_note(rows)}\n"
    )

    def throughput(group):
        return f"{np.mean([r['predict_structures_per_second'] for r in group]):,.0f}"

    def paper(group):
        numbers = PAPER.get(group[0]["model"])
        return " / ".join(f"{v:.3f}" for v in numbers) if numbers else "—"

    after = {"struct/s": throughput, "paper MSE×10 / MAE / R²": paper}
    return "\n".join(model_table(title, group_rows(rows), after=after))


def summarise(rows):
    """Mean and standard deviation over seeds of each row's metrics."""
    summary = {}
    for key in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == key]
        entry = {"n_seeds": len(mine)}
        for metric in ("mse_x10", "mae", "r2_per_crystal", "r2_pooled"):
            values = [r["test"][metric] for r in mine]
            entry[metric] = (float(np.mean(values)), float(np.std(values)))
        for field in ("seconds_per_epoch", "fit_seconds", "predict_structures_per_second"):
            values = [r[field] for r in mine if field in r]
            entry[field] = float(np.mean(values)) if values else None
        summary[key] = entry
    return summary


def print_table(summary, n_seeds):
    def cell(pair):
        mean, std = pair
        return f"{mean:.3f} ± {std:.3f}" if n_seeds > 1 else f"{mean:.3f}"

    width = 15 if n_seeds > 1 else 7
    pooled_width = max(width, len("R² pooled"))
    header = (
        f"{'model':18s} {'MSE×10':>{width}s} {'MAE':>{width}s} {'R²':>{width}s} "
        f"{'R² pooled':>{pooled_width}s} {'s/epoch':>8s} {'fit s':>8s} {'struct/s':>9s} "
        f"│ {'paper MSE×10':>12s} {'MAE':>6s} {'R²':>6s}"
    )
    print(header)
    print("─" * len(header))
    for key, entry in summary.items():
        paper = PAPER.get(key)
        paper_cells = (
            f"{paper[0]:12.3f} {paper[1]:6.3f} {paper[2]:6.3f}" if paper else f"{'—':>12s}"
        )
        epoch = entry["seconds_per_epoch"]
        print(
            f"{MODELS[key][0]:18s} {cell(entry['mse_x10']):>{width}s} "
            f"{cell(entry['mae']):>{width}s} {cell(entry['r2_per_crystal']):>{width}s} "
            f"{cell(entry['r2_pooled']):>{pooled_width}s} "
            f"{(f'{epoch:.2f}' if epoch else '—'):>8s} {entry['fit_seconds']:8.1f} "
            f"{entry['predict_structures_per_second']:9.0f} │ {paper_cells}"
        )


def plot_examples(energies, y_true, predictions, unit, path, n=6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat[:n]):
        ax.plot(energies, y_true[i], color="black", linewidth=2, label="DFPT")
        for key, y_pred in predictions.items():
            ax.plot(energies, y_pred[i], linewidth=1, label=MODELS[key][0])
        ax.set_title(f"test crystal {i}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel(f"frequency ({unit.replace('^-1', '$^{-1}$')})")
    axes[0, 0].legend(fontsize=7)
    fig.supylabel("DOS (max-scaled)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return publish_report(args, SCRIPT, ROWS, FIT_OPTIONS, load_rows, report)
    out, folder = make_folders(args, ROWS)

    start = time.perf_counter()
    data = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)
    load_time = time.perf_counter() - start

    rows, first_predictions = [], {}
    for seed in args.seeds:
        indices = split_indices("id", data.structures, seed)
        if seed == args.seeds[0]:
            y_test_first = data.dos[indices[2]]
        for key in args.models:
            path = folder / row_file(args, key, seed)
            row = read_stored(path, args)
            if row is not None:
                print(f"[seed {seed}] {MODELS[key][0]}: stored in {path}, not refitted")
            else:
                print(f"[seed {seed}] {MODELS[key][0]} …", flush=True)
                row = fit(key, seed, args, data, indices)
                save_row(path, row)
            rows.append(row)
            if seed == args.seeds[0]:
                first_predictions[key] = np.asarray(row["example_dos"])
            test = row["test"]
            print(
                f"[seed {seed}] {MODELS[key][0]}: MSE×10 {test['mse_x10']:.3f} "
                f"MAE {test['mae']:.3f} R² {test['r2_per_crystal']:.3f} "
                f"R² pooled {test['r2_pooled']:.3f}, fit {row['fit_seconds']:.1f} s",
                flush=True,
            )

    summary = summarise(rows)
    results = {
        "models": args.models,
        **run_record(args),
        "platform": platform.platform(),
        "n_train": rows[-1]["n_train"],
        "n_valid": rows[-1]["n_valid"],
        "n_test": rows[-1]["n_test"],
        "rows": str(folder),
        "load_seconds": load_time,
        "paper": {
            k: dict(zip(("mse_x10", "mae", "r2_per_crystal"), v, strict=True))
            for k, v in PAPER.items()
        },
        "summary": summary,
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot_examples(
        data.energies, y_test_first, first_predictions, data.energy_unit, out / "predictions.png"
    )

    print()
    print(
        f"Phonon DOS, test tenth of {len(data.structures)} crystals, "
        f"seeds {args.seeds}{' (quick)' if args.quick else ''}, {args.device}, "
        f"{torch.get_num_threads()} threads"
    )
    print_table(summary, len(args.seeds))
    for row in rows:
        if "predict_structures_per_second_with_symmetry" in row:
            print(
                f"DOSTransformer prediction (seed {row['seed']}): "
                f"{row['predict_structures_per_second']:.0f} structures/s (graphs + network), "
                f"{row['predict_structures_per_second_with_symmetry']:.0f} structures/s "
                "including the crystal-system search"
            )
    print(f"wrote {out / 'results.json'} and {out / 'predictions.png'}, rows in {folder}")
    return results


if __name__ == "__main__":
    main()
