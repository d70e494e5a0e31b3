"""Tests for :class:`dos_estimators.model_selection.SpeciesCountSplit`."""

import pytest
from splitter_helpers import cells_with_species, check_partition

from dos_estimators.model_selection import SpeciesCountSplit
from dos_estimators.structures import n_species


def test_species_count_split_paper_sets():
    counts = [1, 2, 3, 4, 5, 6, 2, 3, 1]
    X = cells_with_species(counts)
    assert [n_species(s) for s in X] == counts
    train, test = next(SpeciesCountSplit().split(X))
    check_partition(train, test, len(X), cover=False)
    assert sorted(counts[i] for i in train) == [2, 2, 3, 3]
    assert sorted(counts[i] for i in test) == [1, 1, 4, 5]
    # The six-species crystal belongs to neither side.
    assert 5 not in set(train) | set(test)
    assert SpeciesCountSplit().get_n_splits() == 1


def test_species_count_split_none_means_all_others():
    counts = [1, 2, 3, 6]
    X = cells_with_species(counts)
    train, test = next(SpeciesCountSplit(train_counts=(2,), test_counts=None).split(X))
    assert (train.tolist(), test.tolist()) == ([1], [0, 2, 3])
    train, test = next(SpeciesCountSplit(train_counts=None, test_counts=[6]).split(X))
    assert (train.tolist(), test.tolist()) == ([0, 1, 2], [3])


def test_species_count_split_empty_side_lists_the_counts_found():
    X = cells_with_species([2, 3, 3])
    with pytest.raises(ValueError, match=r"test part empty.*2 \(1\), 3 \(2\)"):
        next(SpeciesCountSplit().split(X))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"train_counts": (2, 3), "test_counts": (3, 4)}, r"share \[3\]"),
        ({"train_counts": None, "test_counts": None}, "both be None"),
        ({"train_counts": (0, 2)}, "train_counts"),
        ({"test_counts": (1.5,)}, "test_counts"),
        ({"test_counts": ()}, "test_counts"),
    ],
)
def test_species_count_split_invalid_counts(params, match):
    with pytest.raises(ValueError, match=match):
        next(SpeciesCountSplit(**params).split(cells_with_species([1, 2, 3])))
