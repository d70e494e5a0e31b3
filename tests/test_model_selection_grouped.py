"""Tests for grouping by reduced formula: ``reduced_formulas`` and ``FormulaGroupSplit``."""

import pytest
from conftest import diamond, rock_salt
from sklearn.model_selection import GroupKFold

from dos_estimators.model_selection import FormulaGroupSplit, reduced_formulas


def test_formula_group_split_keeps_polymorphs_together():
    X = [
        rock_salt(a, species)
        for species in (("Na", "Cl"), ("K", "Cl"), ("Mg", "O"))
        for a in (5.0, 5.5)
    ] + [diamond(3.57), diamond(3.6), diamond(5.43, "Si")]
    formulas = reduced_formulas(X)
    assert formulas.tolist()[:2] == ["NaCl", "NaCl"] and formulas[-1] == "Si"
    splitter = FormulaGroupSplit(n_splits=4, test_size=0.4, random_state=0)
    splits = list(splitter.split(X))
    assert len(splits) == splitter.get_n_splits() == 4
    for train, test in splits:
        assert len(test) and not set(formulas[train]) & set(formulas[test])
        assert sorted([*train, *test]) == list(range(len(X)))
    again = list(FormulaGroupSplit(n_splits=4, test_size=0.4, random_state=0).split(X))
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))
    for train, test in GroupKFold(n_splits=3).split(X, groups=formulas):
        assert not set(formulas[train]) & set(formulas[test])


@pytest.mark.parametrize(
    "params, words",
    [
        ({"n_splits": 0}, "n_splits"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": 2}, "test_size"),
    ],
)
def test_formula_group_split_checks_its_parameters(params, words):
    X = [rock_salt(5.0), rock_salt(5.0, ("K", "Cl"))]
    with pytest.raises(ValueError, match=words):
        next(FormulaGroupSplit(**params).split(X))


def test_formula_group_split_needs_two_formulas():
    with pytest.raises(ValueError, match="at least 2 reduced formulas"):
        next(FormulaGroupSplit().split([rock_salt(5.0), rock_salt(5.5)]))
