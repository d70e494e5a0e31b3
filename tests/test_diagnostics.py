"""Signs of an untrustworthy structure or DOS: close contacts, isolated atoms, cut DOS."""

import numpy as np
from pymatgen.core import Lattice, Structure

from dos_estimators.diagnostics import (
    CLOSE_CONTACT,
    close_contacts,
    isolated_sites,
    top_edge_fraction,
)


def test_close_contacts_name_the_pair_and_distance():
    close = Structure(Lattice.cubic(5.0), ["Si", "Si"], [[0, 0, 0], [0.02, 0, 0]])
    [(i, j, d)] = close_contacts(close)
    assert (i, j) == (0, 1) and abs(d - 0.1) < 1e-9
    fine = Structure(Lattice.cubic(5.43), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    assert close_contacts(fine) == [] and CLOSE_CONTACT < 0.74


def test_isolated_sites_have_no_neighbour_within_the_cutoff():
    box = Structure(Lattice.cubic(30.0), ["Cu"], [[0, 0, 0]])
    assert isolated_sites(box, 5.0) == [0]
    sites = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    copper = Structure(Lattice.cubic(3.6), ["Cu"] * 4, sites)
    assert isolated_sites(copper, 5.0) == []


def test_top_edge_fraction_per_row():
    dos = np.array([[0.0, 1.0, 0.5], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]])
    np.testing.assert_allclose(top_edge_fraction(dos), [0.5, 0.0, 0.0])
