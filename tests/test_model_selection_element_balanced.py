"""Tests for :class:`dos_estimators.model_selection.ElementBalancedSplit`."""

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from splitter_helpers import check_partition, elements_of, random_compounds

from dos_estimators.model_selection import ElementBalancedSplit


def test_element_balanced_sizes_disjoint_and_cover():
    X = random_compounds(60)
    cv = ElementBalancedSplit(n_splits=3, test_size=0.1, random_state=0)
    splits = list(cv.split(X))
    assert len(splits) == cv.get_n_splits() == 3
    for train, test in splits:
        check_partition(train, test, len(X))
        assert len(test) == 6


def test_element_balanced_every_held_out_element_is_in_training():
    X = random_compounds(80, seed=1)
    # Two compounds hold elements found nowhere else: they must stay in training.
    X.append(Structure(Lattice.cubic(5.0), ["Au", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    X.append(Structure(Lattice.cubic(5.0), ["Pt", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    for train, test in ElementBalancedSplit(n_splits=10, test_size=0.25, random_state=0).split(X):
        seen = set().union(*(elements_of(X[i]) for i in train))
        assert all(elements_of(X[i]) <= seen for i in test)
        assert {len(X) - 2, len(X) - 1} <= set(train)


def test_element_balanced_holds_out_each_element_in_proportion():
    X = random_compounds(400, seed=2)
    contains = Counter(e for s in X for e in elements_of(s))
    rng_shares, balanced_shares = [], []
    rng = np.random.default_rng(0)
    for _, test in ElementBalancedSplit(n_splits=5, test_size=0.2, random_state=0).split(X):
        held = Counter(e for i in test for e in elements_of(X[i]))
        balanced_shares.append(max(abs(held[e] / contains[e] - 0.2) for e in contains))
        random_test = rng.permutation(len(X))[: len(test)]
        held = Counter(e for i in random_test for e in elements_of(X[i]))
        rng_shares.append(max(abs(held[e] / contains[e] - 0.2) for e in contains))
    # Every element (each in 55 to 85 compounds) is held out within one crystal of 20 %.
    assert max(balanced_shares) < 1 / 85
    assert max(balanced_shares) < min(rng_shares)


def test_element_balanced_is_deterministic_with_a_seed():
    X = random_compounds(50)

    def splits(seed):
        return [
            (tr.tolist(), te.tolist())
            for tr, te in ElementBalancedSplit(n_splits=2, random_state=seed).split(X)
        ]

    assert splits(3) == splits(3)
    assert splits(3) != splits(4)
    first, second = splits(3)
    assert first != second


def test_element_balanced_integer_test_size():
    X = random_compounds(30)
    train, test = next(ElementBalancedSplit(n_splits=1, test_size=4, random_state=0).split(X))
    assert len(test) == 4 and len(train) == 26


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"test_size": 0.0}, "test_size"),
        ({"test_size": 1.0}, "test_size"),
        ({"test_size": 30}, "test_size=30"),
        ({"test_size": "10%"}, "test_size"),
        ({"n_splits": 0}, "n_splits"),
    ],
)
def test_element_balanced_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        next(ElementBalancedSplit(**params).split(random_compounds(30)))


def test_element_balanced_impossible_split_names_the_lonely_elements():
    # Every element occurs in one crystal only: none can be held out.
    X = [
        Structure(Lattice.cubic(5.0), pair, [[0, 0, 0], [0.5, 0.5, 0.5]])
        for pair in [("Na", "Cl"), ("K", "Br"), ("Mg", "O")]
    ]
    with pytest.raises(ValueError, match=r"Only 0 of the 1 .*'Br', 'Cl', 'K', 'Mg', 'Na', 'O'"):
        next(ElementBalancedSplit(test_size=0.3).split(X))
