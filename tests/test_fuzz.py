"""Fuzzing: random crystals and DOS never crash fit/predict with anything but documented errors.

hypothesis draws lattices (ordinary, very skewed, near-degenerate), 1–40 sites of any
element, node-feature tables and DOS rows. Either the input is refused with one of the
``ValueError`` messages of docs/reliability.md, or ``fit`` and ``predict`` succeed and the
predictions are finite and non-negative. The draws are derandomised, so every run tries
the same examples.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure

from dos_estimators import DOSTransformerRegressor
from dos_estimators.features import NODE_FEATURES

# The documented refusals (docs/reliability.md) a random crystal can meet.
DOCUMENTED = re.compile(
    r"not in the '\w+' node-feature table"
    r"|apart, closer than 0\.1 Å: overlapping atoms"
    r"|the cell is degenerate"
    r"|the lattice holds NaN or infinite values"
)

FUZZ_MODEL = dict(
    hidden=8,
    n_heads=1,
    n_gnn_layers=1,
    n_cross_layers=1,
    n_self_layers=1,
    n_cross_layers_out=1,
    max_epochs=1,
    batch_size=4,
    random_state=0,
)


@st.composite
def crystals(draw):
    """A lattice, 1–40 sites of random elements at random fractional coordinates.

    Two draws in three are ordinary cells (3–12 Å, angles 60–120°); the third may be
    anything from 1 Å to nearly flat (angles 3–177°).
    """
    if draw(st.sampled_from(["ordinary", "ordinary", "extreme"])) == "ordinary":
        lengths, angles = st.floats(3.0, 12.0), st.floats(60.0, 120.0)
    else:
        lengths, angles = st.floats(1.0, 12.0), st.floats(3.0, 177.0)
    a, b, c = draw(lengths), draw(lengths), draw(lengths)
    alpha, beta, gamma = draw(angles), draw(angles), draw(angles)
    with np.errstate(all="ignore"):
        lattice = Lattice.from_parameters(a, b, c, alpha, beta, gamma)
    n_sites = draw(st.integers(1, 40))
    numbers = draw(st.lists(st.integers(1, 118), min_size=n_sites, max_size=n_sites))
    coords = draw(
        st.lists(
            st.tuples(*[st.floats(0.0, 1.0, exclude_max=True)] * 3),
            min_size=n_sites,
            max_size=n_sites,
        )
    )
    if draw(st.booleans()) and n_sites > 1:
        coords[-1] = coords[0]  # an atom listed twice
    return Structure(lattice, numbers, coords)


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    structures=st.lists(crystals(), min_size=2, max_size=4),
    table=st.sampled_from(NODE_FEATURES),
    data=st.data(),
)
def test_random_crystals_fit_and_predict_or_are_refused_as_documented(structures, table, data):
    n_energies = data.draw(st.integers(1, 12))
    rows = data.draw(
        st.lists(
            st.lists(st.floats(0.0, 1e3), min_size=n_energies, max_size=n_energies),
            min_size=len(structures),
            max_size=len(structures),
        )
    )
    y = np.asarray(rows)
    y[:, 0] += 1.0  # every DOS has some weight (all-zero rows are refused, and tested apart)
    model = DOSTransformerRegressor(node_features=table, **FUZZ_MODEL)
    try:
        model.fit(structures, y)
        prediction = model.predict(structures)
    except ValueError as error:
        assert DOCUMENTED.search(str(error)), f"undocumented refusal: {error}"
        event(f"refused: {DOCUMENTED.search(str(error)).group(0)[:30]}")
        return
    event("fitted and predicted")
    assert prediction.shape == y.shape
    assert np.isfinite(prediction).all() and (prediction >= 0).all()


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from pymatgen.core import Lattice, Structure
    from dos_estimators import DOSTransformerRegressor

    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    small = [nacl.copy(), nacl.copy().scale_lattice(nacl.volume * 1.1)]
    model = DOSTransformerRegressor(max_epochs=1, random_state=0)
    model.fit(small, np.random.default_rng(0).random((2, 51)))
    big = nacl * (4, 4, 4)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    prediction = model.predict([big])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"atoms": len(big), "kib_before": before, "kib_after": after,
                      "finite": bool(np.isfinite(prediction).all())}))
    """
)


@pytest.mark.slow
def test_a_500_atom_cell_predicts_within_2_gb():
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["atoms"] == 512 and measured["finite"]
    # Peak resident memory of the whole process (Python, torch and the model included).
    assert measured["kib_after"] < 2 * 1024 * 1024, measured


@pytest.mark.parametrize("table", ["magpie", "megnet"])
def test_an_element_outside_a_table_is_named(table):
    structures = [
        Structure(Lattice.cubic(4.0), ["Og", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ]
    with pytest.raises(ValueError, match=rf"Sample 0: element\(s\) Og not in the '{table}'"):
        DOSTransformerRegressor(node_features=table, **FUZZ_MODEL).fit(structures, np.ones((2, 3)))
