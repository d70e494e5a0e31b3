"""The atom-embedding study: which node features make DOSTransformer better, on the phonon set.

Every row is one model (DOSTransformer with its defaults, or the graph network ✓)
with one node-feature option (an element table, a pretrained potential's per-atom
features, a learned embedding, or a list of these concatenated per atom), with or
without crystal-level features, fitted on one split with one seed; the tree
reference runs on the same splits for comparison. Each fit writes one JSON file
to ``--out`` and a fit whose file exists is skipped, so the grid can be spread
over several sittings; ``--report`` rebuilds the tables and the bar chart from the
JSON files alone and writes them into ``docs/embeddings.md`` between the
``<!-- embeddings:begin -->`` and ``<!-- embeddings:end -->`` markers.

Splits: ``id`` (seeded 80/10/10), ``system`` (crystal-system OOD, held-out crystals
halved into validation and test) and ``formula`` (10 % of the reduced formulas
held out for test, 1/9 of the remaining formulas for validation: no polymorph on
two sides).

    python benchmarks/embeddings.py --options magpie chgnet magpie_chgnet --seeds 0 1 2
    python benchmarks/embeddings.py --options magpie_chgnet --crystal-features --splits system
    python benchmarks/embeddings.py --report
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from bench.fits import ALL_SPLITS, run_row, split_data, split_indices
from bench.reports import mean_std_cell, write_docs_block
from bench.rows import model_settings, save_row, settings_hash

from dos_estimators import DOSTransformerRegressor, GraphNetworkDOSRegressor, tree_reference
from dos_estimators.datasets import load_phonon_dos
from dos_estimators.features import CACHE, CHGNetAtomEmbedding, NodeFeatureUnion, is_table

# name: (label, node_features)
OPTIONS = {
    "onehot": ("one-hot", "onehot"),
    "mass_onehot": ("mass one-hot", "mass_onehot"),
    "magpie": ("Magpie (default)", "magpie"),
    "matscholar": ("Matscholar", "matscholar"),
    "megnet": ("MEGNet", "megnet"),
    "cgcnn": ("CGCNN", "cgcnn"),
    "chgnet": ("CHGNet", "chgnet"),
    "magpie_chgnet": ("Magpie + CHGNet", ["magpie", "chgnet"]),
    # CHGNet inside the network, trained at a tenth of the learning rate, or at the same.
    "magpie_chgnet_ft": (
        "Magpie + CHGNet fine-tuned (0.1 × lr)",
        ["magpie", CHGNetAtomEmbedding(fine_tune=0.1)],
    ),
    "magpie_chgnet_ft1": (
        "Magpie + CHGNet fine-tuned (1 × lr)",
        ["magpie", CHGNetAtomEmbedding(fine_tune=1.0)],
    ),
    "sevennet": ("SevenNet-0", "sevennet"),
    "magpie_sevennet": ("Magpie + SevenNet-0", ["magpie", "sevennet"]),
    "vae": ("VAE", "vae"),
    "magpie_vae": ("Magpie + VAE", ["magpie", "vae"]),
    "contrastive": ("contrastive", "contrastive"),
    "magpie_contrastive": ("Magpie + contrastive", ["magpie", "contrastive"]),
}
MODELS = {
    "dostransformer": ("DOSTransformer", DOSTransformerRegressor, {}),
    "graph_network_energy": ("Graph Network ✓", GraphNetworkDOSRegressor, {"use_energy": True}),
}
SCHEDULES = {"full": {}, "cpu": {"max_epochs": 30, "patience": 30}, "quick": {"max_epochs": 2}}
CRYSTAL_FEATURES = "magpie_density"
REVISION = 1
METRICS = ("mse_x10", "mae", "r2_per_crystal", "r2_pooled")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["dostransformer"], choices=list(MODELS))
    parser.add_argument("--options", nargs="+", default=["magpie"], choices=[*OPTIONS, "all"])
    parser.add_argument(
        "--crystal-features",
        action="store_true",
        help=f"also add crystal_features={CRYSTAL_FEATURES!r} (rows with and without)",
    )
    parser.add_argument("--only-crystal-features", action="store_true")
    parser.add_argument("--splits", nargs="+", default=["id"], choices=list(ALL_SPLITS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--schedule", default="full", choices=list(SCHEDULES))
    parser.add_argument("--n-ensemble", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-home")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="processes for the crystal-system search"
    )
    parser.add_argument("--out", default="docs/data/embeddings", help="one JSON file per fit")
    parser.add_argument("--report", action="store_true", help="only rebuild the tables")
    parser.add_argument("--docs", default="docs/embeddings.md", help="page the tables go into")
    parser.add_argument("--figure", default="docs/images/embeddings.png")
    args = parser.parse_args(argv)
    if "all" in args.options:
        args.options = list(OPTIONS)
    return args


def build(model, option, crystal_features, schedule, seed, device, n_ensemble=1):
    """The estimator of one row."""
    label, cls, fixed = MODELS[model]
    params = {**fixed, "node_features": OPTIONS[option][1], **SCHEDULES[schedule]}
    if crystal_features:
        params["crystal_features"] = CRYSTAL_FEATURES
    if n_ensemble != 1:
        params["n_ensemble"] = n_ensemble
    return cls(device=device, random_state=seed, **params)


def row_name(model, option, crystal_features, split, schedule, seed, device="cpu", n_ensemble=1):
    """File name of one fit; it changes whenever the fit's settings do."""
    estimator = build(model, option, crystal_features, schedule, seed, device, n_ensemble)
    settings = {"revision": REVISION, "split": split, "params": model_settings(estimator)}
    key = settings_hash(settings)
    tag = (
        f"{option}{'+cf' if crystal_features else ''}{'' if n_ensemble == 1 else f'x{n_ensemble}'}"
    )
    return f"{model}__{tag}__{split}__{schedule}__seed{seed}__{key}.json"


def trees_name(split, seed):
    return f"trees__{split}__seed{seed}.json"


def feature_seconds(spec, X_train, y_train, X_all):
    """Seconds to fit ``spec`` on the training crystals and compute it for all, cache cold."""
    if is_table(spec):
        return 0.0
    CACHE.clear()
    start = time.perf_counter()
    NodeFeatureUnion(spec, random_state=0).fit(X_train, y_train).transform(X_all)
    return time.perf_counter() - start


def run(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variants = [False, True] if args.crystal_features else [False]
    if args.only_crystal_features:
        variants = [True]
    todo = [
        (model, option, cf, split, seed)
        for split in args.splits
        for seed in args.seeds
        for model in args.models
        for option in args.options
        for cf in variants
        if not (
            out
            / row_name(model, option, cf, split, args.schedule, seed, n_ensemble=args.n_ensemble)
        ).exists()
    ]
    trees = [
        (split, seed)
        for split in args.splits
        for seed in args.seeds
        if not (out / trees_name(split, seed)).exists()
    ]
    print(f"{len(todo)} fits and {len(trees)} tree references to run, results in {out}", flush=True)
    if not todo and not trees:
        return
    phonon = load_phonon_dos(data_home=args.data_home, n_jobs=args.n_jobs)
    structures, dos = phonon.structures, phonon.dos
    common = {"threads": torch.get_num_threads(), "platform": platform.platform()}
    for split, seed in trees:
        data = split_data(structures, dos, split_indices(split, structures, seed, args.n_jobs))
        row, _ = run_row("trees", tree_reference(random_state=seed, n_jobs=1), data)
        row.update(split=split, seed=seed, **common)
        save_row(out / trees_name(split, seed), row)
        print(f"trees {split} seed {seed}: MSE×10 {row['test']['mse_x10']:.3f}", flush=True)
    for model_key, option, cf, split, seed in todo:
        indices = split_indices(split, structures, seed, args.n_jobs)
        data = split_data(structures, dos, indices)
        spec = OPTIONS[option][1]
        features = feature_seconds(spec, data[0], data[3], data[0] + data[1] + data[2])
        model = build(model_key, option, cf, args.schedule, seed, args.device, args.n_ensemble)
        row, _ = run_row(model_key, model, data)
        row.update(
            model_key=model_key,
            option=option,
            crystal_features=cf,
            split=split,
            seed=seed,
            schedule=args.schedule,
            n_ensemble=args.n_ensemble,
            feature_seconds=features,
            n_node_features=model.n_node_features_,
            n_parameters=sum(p.numel() for p in model.net_.module_.parameters()),
            **common,
        )
        name = row_name(
            model_key, option, cf, split, args.schedule, seed, n_ensemble=args.n_ensemble
        )
        save_row(out / name, row)
        test = row["test"]
        print(
            f"{model_key} {option}{'+cf' if cf else ''} {split} seed {seed}: "
            f"MSE×10 {test['mse_x10']:.3f} MAE {test['mae']:.3f} "
            f"R² per crystal {test['r2_per_crystal']:.3f} ({row['epochs']} epochs, "
            f"{row['fit_seconds']:.0f} s fit, {features:.0f} s features)",
            flush=True,
        )


def load_rows(out: Path):
    """(network rows whose file names match today's settings, tree rows)."""
    rows, trees = [], []
    for path in sorted(Path(out).glob("*.json")):
        row = json.loads(path.read_text())
        if path.name.startswith("trees__"):
            trees.append(row)
            continue
        known = (
            row.get("option") in OPTIONS
            and row.get("model_key") in MODELS
            and row.get("schedule") in SCHEDULES
        )
        current = known and row_name(
            row["model_key"],
            row["option"],
            row["crystal_features"],
            row["split"],
            row["schedule"],
            row["seed"],
            n_ensemble=row.get("n_ensemble", 1),
        )
        if current == path.name:
            rows.append(row)
        else:
            print(f"left out {path.name}: fitted with other settings than today's")
    return rows, trees


def _label(row):
    label = OPTIONS[row["option"]][0]
    if row["crystal_features"]:
        label += " + crystal features"
    if row.get("n_ensemble", 1) > 1:
        label += f", ensemble of {row['n_ensemble']}"
    return label


def report(rows, trees) -> str:
    """Markdown tables, mean ± std over seeds, from the JSON rows alone."""
    tree_mse = {(t["split"], t["seed"]): t["test"]["mse"] for t in trees}
    lines = []
    for split, split_label in ALL_SPLITS.items():
        for schedule in SCHEDULES:
            for model_key, (model_label, _, _) in MODELS.items():
                mine = [
                    r
                    for r in rows
                    if (r["split"], r["schedule"], r["model_key"]) == (split, schedule, model_key)
                ]
                if not mine:
                    continue
                groups = {}
                for r in mine:
                    key = (r["option"], r["crystal_features"], r.get("n_ensemble", 1))
                    groups.setdefault(key, []).append(r)
                base = {r["seed"]: r["test"]["mse"] for r in groups.get(("magpie", False, 1), [])}
                lines.append(
                    f"**{model_label}, {split_label}**, schedule `{schedule}` — test crystals; "
                    "mean ± standard deviation (population) over seeds; Δ paired by seed\n"
                )
                lines.append(
                    "| node features | seeds | MSE×10 | Δ MSE vs Magpie | Δ MSE vs trees | MAE "
                    "| R² per crystal | R² pooled | features s | fit s |"
                )
                lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
                seeds_here = sorted({r["seed"] for r in mine})
                tree_rows = [t for t in trees if t["split"] == split and t["seed"] in seeds_here]
                if tree_rows:
                    lines.append(
                        f"| tree reference (Magpie + density, ExtraTrees) | "
                        f"{', '.join(str(t['seed']) for t in tree_rows)} | "
                        f"{mean_std_cell([t['test']['mse_x10'] for t in tree_rows])} | — | — | "
                        f"{mean_std_cell([t['test']['mae'] for t in tree_rows])} | "
                        f"{mean_std_cell([t['test']['r2_per_crystal'] for t in tree_rows])} | "
                        f"{mean_std_cell([t['test']['r2_pooled'] for t in tree_rows])} | — | "
                        f"{np.mean([t['fit_seconds'] for t in tree_rows]):.0f} |"
                    )
                order = sorted(groups, key=lambda k: np.mean([r["test"]["mse"] for r in groups[k]]))
                for key in order:
                    group = sorted(groups[key], key=lambda r: r["seed"])
                    cells = [mean_std_cell([r["test"][m] for r in group]) for m in METRICS]

                    def delta(reference, group=group):
                        paired = [
                            100 * (r["test"]["mse"] / reference[r["seed"]] - 1)
                            for r in group
                            if r["seed"] in reference
                        ]
                        return mean_std_cell(paired, 1, " %")

                    by_seed = {s: m for (sp, s), m in tree_mse.items() if sp == split}
                    lines.append(
                        f"| {_label(group[0])} | {', '.join(str(r['seed']) for r in group)} | "
                        f"{cells[0]} | {'—' if key == ('magpie', False, 1) else delta(base)} | "
                        f"{delta(by_seed)} | {cells[1]} | {cells[2]} | {cells[3]} | "
                        f"{np.mean([r['feature_seconds'] for r in group]):.0f} | "
                        f"{np.mean([r['fit_seconds'] for r in group]):.0f} |"
                    )
                lines.append("")
    return "\n".join(lines)


def plot(rows, trees, path: Path) -> None:
    """Bar chart of MSE×10 per node-feature option, DOSTransformer, ID split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candidates = [r for r in rows if r["split"] == "id" and r["model_key"] == "dostransformer"]
    if not candidates:
        return
    # The schedule with the most rows (the full one when counts tie).
    schedule = max(
        SCHEDULES, key=lambda k: (sum(r["schedule"] == k for r in candidates), k == "full")
    )
    chosen = [r for r in candidates if r["schedule"] == schedule]
    groups = {}
    for r in chosen:
        groups.setdefault(_label(r), []).append(r["test"]["mse_x10"])
    labels = sorted(groups, key=lambda k: np.mean(groups[k]))
    means = [np.mean(groups[k]) for k in labels]
    errors = [np.std(groups[k]) for k in labels]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(labels) + 1.5))
    ax.barh(labels, means, xerr=errors, color="tab:blue")
    tree_values = [t["test"]["mse_x10"] for t in trees if t["split"] == "id"]
    if tree_values:
        ax.axvline(np.mean(tree_values), color="tab:green", ls="--", label="tree reference")
    ax.axvline(0.191, color="tab:red", ls=":", label="paper, Table 1")
    ax.set_xlabel(f"test MSE×10, ID split, schedule {schedule} (mean ± std over seeds)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if not args.report:
        run(args)
    rows, trees = load_rows(args.out)
    text = report(rows, trees)
    print(text)
    if args.report and args.docs:
        figure = Path(args.figure)
        plot(rows, trees, figure)
        docs = Path(args.docs)
        relative = Path("images") / figure.name
        write_docs_block(
            text + f"\n![MSE×10 per node-feature option]({relative.as_posix()})\n",
            docs,
            "embeddings",
            "benchmarks/embeddings.py",
        )
        print(f"wrote the tables into {args.docs}")


if __name__ == "__main__":
    main()
