"""Thermodynamics from predicted phonon DOS: C_V and S at 300 K against the DFPT DOS's.

The heat capacity and vibrational entropy of every test crystal, computed from its
predicted DOS and from its DFPT DOS (``dos_estimators.thermo.phonon_thermo``, each DOS
renormalised to 3N modes, per mole of atoms), are stored in the rows of
``benchmarks/phonon.py`` (``docs/data/phonon``). ``--report`` reads them, and writes
the mean absolute errors and R² of each model (mean ± std over seeds) into
``docs/thermo.md`` between the ``<!-- thermo:begin -->`` and ``<!-- thermo:end -->``
markers, with a parity plot of the first seed (``docs/images/thermo_parity.png``):
the models are fitted once, by the phonon benchmark.

Without ``--report`` the script fits the models of ``--models`` itself, for ad-hoc
use (another ``--temperature``, other ``--param``): it prints the same table and
writes ``results.json`` and ``thermo_parity.png`` to ``--out``, never into the docs.

    python benchmarks/thermo.py --report
    python benchmarks/thermo.py --models trees dostransformer --seeds 0 1 2 --temperature 100
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from bench.cli import add_common_arguments, add_row_arguments, finish_arguments
from bench.fits import run_splits
from bench.reports import group_rows, mean_std_cell, no_rows_text, publish, row_label, seeds_cell
from bench.rows import fit_record
from bench.thermo_rows import THERMO_QUANTITIES, THERMO_TEMPERATURE, thermo_record
from phonon import ROWS, load_rows
from sklearn.metrics import r2_score

from dos_estimators.datasets import load_phonon_dos

SCRIPT = "benchmarks/thermo.py"
# Dulong and Petit's limit of C_V per mole of atoms, 3R, J/(mol·K).
DULONG_PETIT = 24.94


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, models=["trees", "dostransformer"], out="results/thermo")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--temperature", type=float, default=THERMO_TEMPERATURE, help="K")
    add_row_arguments(parser, rows=ROWS, docs="docs/thermo.md")
    parser.add_argument(
        "--figure", default="docs/images/thermo_parity.png", help="parity plot of --report"
    )
    return finish_arguments(parser.parse_args(argv))


def thermo_scores(record: dict) -> dict:
    """MAE and R² over the test crystals of each quantity of a row's ``thermo`` record.

    Parameters
    ----------
    record : dict
        As :func:`bench.thermo_rows.thermo_record` makes it.

    Returns
    -------
    dict
        ``cv_mae``, ``cv_r2``, ``entropy_mae``, ``entropy_r2``, ``cv_true_mean`` and
        ``n_left_out``, the crystals without a value (a DOS zero everywhere).
    """
    scores = {"n_left_out": 0}
    for key, _, _ in THERMO_QUANTITIES:
        true = np.array(record[key]["true"], dtype=float)
        predicted = np.array(record[key]["predicted"], dtype=float)
        ok = np.isfinite(true) & np.isfinite(predicted)
        scores[f"{key}_mae"] = float(np.mean(np.abs(predicted[ok] - true[ok])))
        scores[f"{key}_r2"] = float(r2_score(true[ok], predicted[ok]))
        scores[f"{key}_true_mean"] = float(np.mean(true[ok]))
        scores["n_left_out"] = max(scores["n_left_out"], int(np.sum(~ok)))
    return scores


def report(rows, folder, source=None) -> str:
    """The Markdown table (mean ± std over seeds) built from the rows' ``thermo`` records.

    Parameters
    ----------
    rows : list of dict
        Rows of ``benchmarks/phonon.py`` (or of this script's fitting mode).
    folder : str or Path
        Where they lie, named when there are none.
    source : str, optional
        Where the rows come from, for the text; by default the phonon fits in ``folder``.

    Returns
    -------
    str
        One table per temperature, or a sentence saying that no rows exist yet.
    """
    rows = [r for r in rows if "thermo" in r]
    if not rows:
        return no_rows_text(folder, "benchmarks/phonon.py --models all --seeds 0 1 2", SCRIPT)
    source = source or f"the `benchmarks/phonon.py` fits in `{folder}`"
    lines = []
    for temperature in sorted({r["thermo"]["temperature"] for r in rows}):
        mine = [r for r in rows if r["thermo"]["temperature"] == temperature]
        lines += [
            f"C_V and S at {temperature:g} K per mole of atoms of the test crystals, from each "
            "model's predicted DOS against the DFPT DOS (each renormalised to 3N modes); MAE "
            "and R² over the test crystals of a seed, mean ± standard deviation (population) "
            f"over the seeds listed. Rows: {source}.\n",
            "| model | seeds | MAE C_V (J/(mol·K)) | MAE S (J/(mol·K)) | R² C_V | R² S |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        left_out = 0
        for (key, variant), group in group_rows(mine).items():
            scores = [thermo_scores(r["thermo"]) for r in group]
            left_out += sum(s["n_left_out"] for s in scores)
            cells = [row_label(key, variant), seeds_cell(group)]
            cells += [
                mean_std_cell([s[name] for s in scores])
                for name in ("cv_mae", "entropy_mae", "cv_r2", "entropy_r2")
            ]
            lines.append("| " + " | ".join(cells) + " |")
        true_cv = np.mean([thermo_scores(r["thermo"])["cv_true_mean"] for r in mine])
        lines.append(
            f"\nMean C_V of the test crystals from the DFPT DOS: {true_cv:.2f} J/(mol·K) "
            f"(Dulong–Petit limit {DULONG_PETIT})."
        )
        if left_out:
            lines.append(
                f"{left_out} predicted DOS (crystals × seeds, all rows) were zero everywhere "
                "and are left out of the errors."
            )
        lines.append("")
    return "\n".join(lines)


def plot(rows, path: Path) -> bool:
    """Parity plots of the first seed, one panel per quantity, one colour per model.

    Returns
    -------
    bool
        Whether there was a row to plot (no file is written otherwise).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "thermo" in r]
    if not rows:
        return False
    seed = min(r["seed"] for r in rows)
    temperature = min(r["thermo"]["temperature"] for r in rows)
    chosen = [r for r in rows if r["seed"] == seed and r["thermo"]["temperature"] == temperature]
    fig, axes = plt.subplots(1, len(THERMO_QUANTITIES), figsize=(4.2 * len(THERMO_QUANTITIES), 4))
    for ax, (key, symbol, unit) in zip(axes, THERMO_QUANTITIES, strict=True):
        low, high = np.inf, -np.inf
        for (model, variant), group in group_rows(chosen).items():
            record = group[0]["thermo"][key]
            true = np.array(record["true"], dtype=float)
            predicted = np.array(record["predicted"], dtype=float)
            ax.scatter(true, predicted, s=6, alpha=0.5, label=row_label(model, variant))
            low = min(low, np.nanmin(true), np.nanmin(predicted))
            high = max(high, np.nanmax(true), np.nanmax(predicted))
        ax.plot([low, high], [low, high], color="k", linewidth=0.8)
        ax.set_xlabel(f"{symbol} from the DFPT DOS, {unit}")
        ax.set_ylabel(f"{symbol} from the predicted DOS, {unit}")
        ax.set_title(f"{symbol} at {temperature:g} K, test crystals, seed {seed}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def publish_report(args) -> str:
    """``--report``: the table from the phonon rows into ``--docs``, the plot into ``--figure``."""
    folder = Path(args.rows or ROWS)
    rows = load_rows(folder)
    text = report(rows, folder)
    figure = Path(args.figure)
    if args.docs and plot(rows, figure):
        relative = Path(args.docs).parent.resolve()
        try:
            link = figure.resolve().relative_to(relative).as_posix()
        except ValueError:
            link = figure.resolve().as_posix()
        text += f"\n![C_V and S from predicted against DFPT DOS, first seed]({link})\n"
    publish(text, args.docs, "thermo", SCRIPT)
    return text


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return publish_report(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)

    rows = []
    for seed in args.seeds:

        def measure(split, key, model, parts, y_pred, row, indices, seed=seed):
            row.update(fit_record(args, seed))
            row["thermo"] = thermo_record(
                parts[5], y_pred, data.energies, parts[2], args.temperature
            )

        rows += run_splits(
            args, data.structures, data.dos, ["id"], seed, after_fit=measure
        ).values()
    print()
    print(report(rows, out, source="this run of `benchmarks/thermo.py`"))
    results = {
        "models": args.models,
        "seeds": args.seeds,
        "temperature": args.temperature,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "runs": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    plot(rows, out / "thermo_parity.png")
    print(f"wrote {out / 'results.json'} and {out / 'thermo_parity.png'}")
    return results


if __name__ == "__main__":
    main()
