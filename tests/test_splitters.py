"""Tests for the splitters of dos_estimators.model_selection together.

With scikit-learn's consumers (``cross_val_score``, ``cross_validate``, ``GridSearchCV``),
their ``repr``, their sizes on the phonon data set, and the package's public names. Each
splitter has its own tests in ``test_model_selection_<module>.py``; the helpers they share
are in ``splitter_helpers.py``.
"""

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from splitter_helpers import (
    cells_with_species,
    cheap_model,
    elements_of,
    one_atom_cells,
    volume_features,
)

import dos_estimators.model_selection
from dos_estimators.model_selection import (
    CrystalSystemSplit,
    ElementBalancedSplit,
    LeaveOneCrystalSystemOut,
    SpeciesCountSplit,
)

# -- with scikit-learn consumers ----------------------------------------------------------


def test_splitters_in_cross_val_score_and_cross_validate():
    X = one_atom_cells({"cubic": 4, "hexagonal": 4, "monoclinic": 3, "triclinic": 2})
    y = volume_features(X)[:, 0] * 0.1
    scores = cross_val_score(cheap_model(), X, y, cv=LeaveOneCrystalSystemOut())
    assert scores.shape == (4,)
    result = cross_validate(cheap_model(), X, y, cv=CrystalSystemSplit())
    assert result["test_score"].shape == (1,)
    scores = cross_val_score(
        cheap_model(), X, y, cv=ElementBalancedSplit(n_splits=2, test_size=2, random_state=0)
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_species_count_split_in_grid_search():
    X = cells_with_species([2, 3, 2, 3, 2, 3, 1, 4, 4, 5])
    y = np.arange(len(X), dtype=float)
    search = GridSearchCV(
        cheap_model(), {"ridge__alpha": [0.1, 10.0]}, cv=SpeciesCountSplit(), refit=False
    )
    search.fit(X, y)
    assert search.n_splits_ == 1
    assert len(search.cv_results_["params"]) == 2


def test_repr_lists_parameters():
    assert repr(CrystalSystemSplit(test_systems=("triclinic",))).startswith(
        "CrystalSystemSplit(n_jobs=None, symprec=0.1"
    )


# -- on the phonon data set ---------------------------------------------------------------


@pytest.fixture(scope="module")
def phonon_structures(shared_data_home):
    from dos_estimators.datasets import load_phonon_dos

    return load_phonon_dos(data_home=shared_data_home, download_if_missing=False).structures


def test_phonon_set_split_sizes(phonon_structures):
    X = phonon_structures
    train, test = next(CrystalSystemSplit().split(X))
    assert (len(train), len(test)) == (1362, 159)  # 1361 and 160 with spglib (RbSnCl3)
    train, test = next(SpeciesCountSplit().split(X))
    assert (len(train), len(test)) == (1313, 208)
    sizes = [len(test) for _, test in LeaveOneCrystalSystemOut().split(X)]
    assert sizes == [425, 119, 326, 288, 204, 151, 8]
    contains = Counter(e for s in X for e in elements_of(s))
    common = [e for e, c in contains.items() if c >= 20]
    for train, test in ElementBalancedSplit(n_splits=2, random_state=0).split(X):
        assert (len(train), len(test)) == (1368, 153)
        held = Counter(e for i in test for e in elements_of(X[i]))
        assert max(abs(held[e] / contains[e] - 0.1) for e in common) <= 0.02 + 1e-9


# -- the package ------------------------------------------------------------------------


def test_public_names_are_those_of_the_package():
    package = dos_estimators.model_selection
    assert package.__all__ == [
        "CrystalSystemSplit",
        "ElementBalancedSplit",
        "FormulaGroupSplit",
        "LeaveOneCrystalSystemOut",
        "SpeciesCountSplit",
        "reduced_formulas",
        "train_valid_test_split",
    ]
    for name in package.__all__:
        assert getattr(package, name).__module__.startswith(package.__name__ + "."), name


def test_the_api_page_lists_every_public_name():
    # docs/api/model_selection.md orders the names by hand; a name left out would vanish.
    page = Path(__file__).resolve().parents[1] / "docs" / "api" / "model_selection.md"
    listed = re.findall(r"^ +- (\w+)$", page.read_text(encoding="utf-8"), flags=re.M)
    assert sorted(listed) == sorted(dos_estimators.model_selection.__all__)
