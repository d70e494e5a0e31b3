"""Tests for metrics.property_probe_score: a property read off predicted DOS by a probe."""

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.linear_model import Ridge

from dos_estimators.datasets import load_electron_dos
from dos_estimators.metrics import property_probe_score

ENERGIES = np.linspace(-5.0, 5.0, 201)


def gapped_dos(gaps: np.ndarray) -> np.ndarray:
    """Max-scaled DOS that vanish within ``gap / 2`` of the Fermi level, ``(n, 201)``."""
    dos = (np.abs(ENERGIES) > gaps[:, None] / 2) * (1.0 + 0.1 * np.abs(ENERGIES))
    return dos / dos.max(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    gaps = rng.uniform(0.0, 4.0, 80)
    return gapped_dos(gaps), gaps


def test_perfect_predictions_reach_the_floor(synthetic):
    dos, gaps = synthetic
    report = property_probe_score(dos[:60], gaps[:60], dos[60:], gaps[60:], dos_true=dos[60:])
    assert set(report) == {"mse", "mae", "mse_true_dos", "mae_true_dos"}
    assert report["mse"] == report["mse_true_dos"]
    assert report["mae"] == report["mae_true_dos"]
    # The probe reads the gap off the true DOS far better than guessing the mean.
    assert report["mse_true_dos"] < 0.05 * np.var(gaps[60:])
    probe = ExtraTreesRegressor(n_estimators=100, random_state=0).fit(dos[:60], gaps[:60])
    assert report["mae"] == pytest.approx(np.mean(np.abs(probe.predict(dos[60:]) - gaps[60:])))


def test_worse_predictions_score_worse(synthetic):
    dos, gaps = synthetic
    rng = np.random.default_rng(1)
    scores = []
    for noise in (0.0, 0.05, 0.3):
        predicted = np.clip(dos[60:] + noise * rng.standard_normal(dos[60:].shape), 0.0, None)
        scores.append(property_probe_score(dos[:60], gaps[:60], predicted, gaps[60:])["mse"])
    assert scores[0] < scores[1] < scores[2]
    # A model that predicts the same (average) DOS for every material loses the gaps.
    average = np.tile(dos[:60].mean(axis=0), (20, 1))
    assert property_probe_score(dos[:60], gaps[:60], average, gaps[60:])["mse"] > scores[2]


def test_deterministic_without_dos_true(synthetic):
    dos, gaps = synthetic
    first = property_probe_score(dos[:60], gaps[:60], dos[60:] * 0.9, gaps[60:])
    assert set(first) == {"mse", "mae"}
    assert property_probe_score(dos[:60], gaps[:60], dos[60:] * 0.9, gaps[60:]) == first


def test_custom_estimator_is_cloned(synthetic):
    dos, gaps = synthetic
    ridge = Ridge(alpha=0.5)
    report = property_probe_score(dos[:60], gaps[:60], dos[60:], gaps[60:], estimator=ridge)
    assert not hasattr(ridge, "coef_")
    predicted = Ridge(alpha=0.5).fit(dos[:60], gaps[:60]).predict(dos[60:])
    assert report["mse"] == pytest.approx(np.mean((predicted - gaps[60:]) ** 2))


def test_several_properties(synthetic):
    dos, gaps = synthetic
    properties = np.column_stack([gaps, 2.0 * gaps])
    report = property_probe_score(dos[:60], properties[:60], dos[60:], properties[60:])
    single = [
        property_probe_score(dos[:60], column[:60], dos[60:], column[60:])["mse"]
        for column in properties.T
    ]
    assert report["mse"] == pytest.approx(np.mean(single), rel=0.2)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"dos_train": np.ones(201)}, r"dos_train must be a non-empty 2-D array"),
        ({"dos_pred": np.ones((5, 200))}, "dos_pred has 200 energies, but dos_train has 201"),
        ({"dos_true": np.ones((4, 201))}, "dos_true has 4 rows, expected 5"),
        ({"property_train": np.ones(9)}, r"property_train must have shape \(10,\)"),
        ({"property_true": np.ones((5, 1, 1))}, r"property_true must have shape \(5,\)"),
        ({"property_true": np.ones((5, 2))}, "the same number of properties"),
        ({"dos_pred": np.full((5, 201), np.nan)}, "dos_pred holds NaN"),
        ({"property_train": np.r_[np.ones(9), np.inf]}, "property_train holds NaN"),
    ],
)
def test_bad_inputs(change, match):
    arguments = {
        "dos_train": np.ones((10, 201)),
        "property_train": np.ones(10),
        "dos_pred": np.ones((5, 201)),
        "property_true": np.ones(5),
        "dos_true": None,
    } | change
    with pytest.raises(ValueError, match=match):
        property_probe_score(**arguments)


def test_band_gap_probe_on_the_gpaw_set(shared_data_home):
    if not (shared_data_home / "edos_gpaw.jsonl").is_file():
        pytest.skip(f"edos_gpaw.jsonl not found in {shared_data_home}.")
    data = load_electron_dos(data_home=shared_data_home)
    order = np.random.default_rng(0).permutation(len(data.gap))
    train, test = order[: int(0.8 * len(order))], order[int(0.8 * len(order)) :]
    shuffled = data.dos[test][np.random.default_rng(1).permutation(len(test))]
    report = property_probe_score(
        data.dos[train], data.gap[train], shuffled, data.gap[test], dos_true=data.dos[test]
    )
    # From true DOS the probe explains most of the gap's variance; from DOS of the wrong
    # materials it does not.
    assert report["mse_true_dos"] < 0.25 * np.var(data.gap[test])
    assert report["mse"] > 4 * report["mse_true_dos"]
