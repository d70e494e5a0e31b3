"""The documentation site (mkdocs.yml, docs/) builds offline with warnings as errors.

One ``mkdocs build --strict`` per test session, into a temporary folder: a broken link or
anchor, a page missing from the nav, a docstring griffe cannot parse, an unresolved
cross-reference all fail it. The API reference is rendered from the docstrings, and the
results pages show the blocks that the benchmarks write between their
``<!-- NAME:begin -->`` / ``<!-- NAME:end -->`` markers (``benchmarks/bench/reports.py:
write_docs_block``), never tables typed into the site.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import benchmark_script

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# The pages whose tables the benchmarks generate, and the names of their blocks.
RESULTS_BLOCKS = [
    ("results.md", "phonon"),
    ("results.md", "ood"),
    ("results.md", "electron"),
    ("results.md", "ablation"),
    ("embeddings.md", "embeddings"),
    ("pretrained.md", "pretrained"),
    ("pretrained.md", "pretrained_hybrid"),
    ("thermo.md", "thermo"),
    ("performance.md", "sharing"),
    ("performance.md", "released"),
    ("results.md", "speed"),
    ("results.md", "scale"),
    ("phonons.md", "zero_shot"),
    ("phonons.md", "hybrid"),
    ("phonons.md", "prior_errors"),
]


def _block(text: str, name: str) -> str:
    """What lies between the ``<!-- name:begin -->`` and ``<!-- name:end -->`` markers."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"markers of {name!r}"
    return text.split(begin, 1)[1].split(end, 1)[0]


def _text(markup: str, tag: str = " ") -> str:
    """The visible text of HTML, each tag replaced by ``tag``, whitespace collapsed."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", tag, markup))).strip()


def _page(site: Path, page: str) -> str:
    """The HTML of a docs page (``api/tuning.md`` -> ``api/tuning/index.html``)."""
    name = page.removesuffix(".md")
    path = site / ("index.html" if name == "index" else f"{name.removesuffix('/index')}/index.html")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner about MkDocs 2.0
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return out


@pytest.mark.slow
def test_site_builds_offline(site):
    home = _page(site, "index.md")
    assert "dos_estimators" in _text(home)
    # No web fonts (theme.font: false) and no other request to a font or CDN host.
    for page in site.rglob("*.html"):
        markup = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in markup and "fonts.gstatic.com" not in markup, page
    # The benchmarks' raw JSON under docs/data/ is input to their --report, not a page.
    assert not (site / "data").exists()


@pytest.mark.parametrize(
    ("page", "signature"),
    [
        (
            "api/estimators.md",
            r"DOSTransformerRegressor\( ?hidden=64, n_heads=4, n_gnn_layers=3,.*?"
            r"checkpoint_dir=None,? ?\)",
        ),
        ("api/estimators.md", r"fine_tune\( ?X, y, \*, only_prompt=True,"),
        ("api/tuning.md", r"tune\( ?estimator, param_distributions, X, y, \*, cv=5,"),
        ("api/thermo.md", r"phonon_thermo\( ?dos, frequencies, n_atoms, temperatures,"),
        ("api/model_files.md", r"load_model\( ?path, \*, device=None ?\)"),
        (
            "api/model_selection.md",
            r"train_valid_test_split\( ?X, y, valid_size=0\.1, test_size=0\.1, random_state=None",
        ),
    ],
)
def test_api_reference_renders_the_signatures(site, page, signature):
    # Tags dropped without a space: the highlighted signature's tokens are spans.
    assert re.search(signature, _text(_page(site, page), tag="")), f"{signature!r} not on {page}"


def test_api_reference_renders_the_docstrings(site):
    pages = sorted((DOCS / "api").glob("*.md"))
    assert {p.name for p in pages} >= {"index.md", "estimators.md", "nn.md", "cli.md"}
    for source in pages:
        text = _text(_page(site, f"api/{source.name}"))
        # Sphinx roles are shown as code, and the baselines' templated docstrings filled in.
        assert not re.search(r":(class|func|meth|attr|data|mod|math):`", text), source.name
        assert "{shared}" not in text, source.name
    estimators = _text(_page(site, "api/estimators.md"))
    # A parameter from the shared part of the baselines' docstrings, rendered per class.
    assert estimators.count("Peak learning rate of the one-cycle schedule") >= 3


# Benchmarks that keep one JSON file: (script, page, the function that makes the block).
JSON_REPORTS = [
    ("speed", "results.md", "table"),
    ("scale", "results.md", "table"),
    ("released", "performance.md", "table"),
    ("sharing", "performance.md", "report_text"),
    ("zero_shot", "phonons.md", "report"),
    ("hybrid", "phonons.md", "report"),
    ("prior_errors", "phonons.md", "report"),
]


@pytest.mark.parametrize(("script", "page", "function"), JSON_REPORTS)
def test_generated_block_is_the_report_of_the_stored_json(script, page, function):
    # The page shows exactly what --report makes of docs/data/SCRIPT.json: no hand edit,
    # no figure the JSON does not hold.
    report = getattr(benchmark_script(script), function)
    text = report(json.loads((DOCS / "data" / f"{script}.json").read_text(encoding="utf-8")))
    note = f"<!-- generated by benchmarks/{script}.py --report; do not edit -->"
    block = _block((DOCS / page).read_text(encoding="utf-8"), script)
    assert block == f"\n{note}\n\n{text}\n"


@pytest.mark.parametrize(("page", "name"), RESULTS_BLOCKS)
def test_results_pages_render_the_generated_blocks(site, page, name):
    block = _block((DOCS / page).read_text(encoding="utf-8"), name)
    assert "No rows yet" not in block, f"{page}: the {name} block has no measured rows"
    rendered = _block(_page(site, page), name)  # Markdown keeps the HTML comments
    lines = [line.strip() for line in block.splitlines()]
    rules = [line for line in lines if re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", line)]
    rows = [line for line in lines if line.startswith("|") and line not in rules]
    assert rendered.count("<table>") == len(rules)
    assert rendered.count("<tr>") == len(rows)
    text = _text(rendered)
    for line in lines:
        if line.startswith("#"):  # the block's headings
            assert line.lstrip("#").strip().replace("`", "") in text
    if not name.startswith("pretrained"):  # a model card is a list
        assert rules, f"{page}: the {name} block has no table"
    if name == "ablation":
        assert "Ours (defaults)" in text
