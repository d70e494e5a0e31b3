"""``import dos_estimators`` is quick, and a broken optional dependency breaks only its feature.

The heavy parts (torch, optuna, e3nn, matminer) are imported on first use of the names that
need them; each check of what a fresh import loads runs in a new interpreter.
"""

import subprocess
import sys

import pytest

import dos_estimators
import dos_estimators.estimators


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_loads_no_heavy_optional_dependency():
    loaded = run_python(
        "import dos_estimators, sys; "
        "print(sorted(m for m in ('optuna', 'e3nn', 'matminer') if m in sys.modules))"
    )
    assert loaded == "[]"


def test_import_and_command_line_parser_load_no_torch():
    loaded = run_python(
        "import sys\n"
        "import dos_estimators\n"
        "from dos_estimators.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'pymatgen') if m in sys.modules))"
    )
    assert loaded == "[]"


@pytest.mark.slow
def test_e3nn_is_imported_only_when_an_encoder_is_built():
    loaded = run_python(
        "import sys\n"
        "from dos_estimators import E3NNDOSRegressor\n"
        "from dos_estimators.nn import E3NNEncoder\n"
        "before = 'e3nn' in sys.modules\n"
        "E3NNEncoder(4, out_features=8, embedding=8, mul=2, n_layers=1)\n"
        "print(before, 'e3nn' in sys.modules)"
    )
    assert loaded == "False True"


@pytest.mark.slow
def test_a_missing_optional_dependency_breaks_only_its_feature():
    # None in sys.modules makes every import of that package raise ImportError.
    report = run_python(
        "import sys\n"
        "for name in ('optuna', 'e3nn', 'matminer'):\n"
        "    sys.modules[name] = None\n"
        "import dos_estimators\n"
        "from dos_estimators import DOSGrid, E3NNDOSRegressor, MLPDOSRegressor, tree_reference\n"
        "from dos_estimators.nn import E3NNEncoder\n"
        "MLPDOSRegressor(hidden=8)\n"
        "def fails(call):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as error:\n"
        "        return error.name.split('.')[0]\n"
        "print(fails(lambda: dos_estimators.tuning), fails(tree_reference),\n"
        "      fails(lambda: E3NNEncoder(4)))"
    )
    assert report.split() == ["optuna", "matminer", "e3nn"]


@pytest.mark.parametrize("package", [dos_estimators, dos_estimators.estimators])
def test_every_public_name_resolves_and_is_listed(package):
    assert set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None, name
        namespace = {}
        exec(f"from {package.__name__} import {name}", namespace)
        assert namespace[name] is getattr(package, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'DOSRegressor'"):
        dos_estimators.DOSRegressor  # noqa: B018
    with pytest.raises(ImportError):
        from dos_estimators import no_such_name  # noqa: F401
