"""The documentation site (mkdocs.yml) builds in strict mode and renders the whole public API.

``mkdocs build --strict`` fails on any warning: a link to a page or an anchor
that does not exist, a ``:::`` reference to an object that does not exist, a
docstring griffe cannot parse. The build reads the sources with griffe and never
imports numrnn, so it needs only the ``docs`` extra (part of ``test``); where
that is not installed the build tests skip and say so.
"""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
import types

import pytest
from docs_blocks import ROOT

BUILD_SECONDS_LIMIT = 60

# Each public module and the API page that documents it.
API_PAGES = {
    "numrnn": "api/numrnn",
    "numrnn.nn": "api/nn",
    "numrnn.functional": "api/functional",
    "numrnn.optim": "api/optim",
    "numrnn.optim.lr_scheduler": "api/optim",
    "numrnn.training": "api/training",
    "numrnn.io": "api/io",
    "numrnn.onnx": "api/onnx",
    "numrnn.keras": "api/keras",
    "numrnn.data": "api/data",
    "numrnn.generate": "api/generate",
    "numrnn.diagnostics": "api/generate",
    "numrnn.distributed": "api/distributed",
    "numrnn.testing": "api/testing",
    "numrnn.errors": "api/numrnn",
    "numrnn.typing": "api/numrnn",
}

MISSING = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
           if importlib.util.find_spec(name.split(".")[0]) is None]
needs_mkdocs = pytest.mark.skipif(
    bool(MISSING), reason=f"the docs extra is not installed (no {', '.join(MISSING)}): "
                          "pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    return result, time.perf_counter() - started, site


@needs_mkdocs
def test_site_builds_in_strict_mode_without_warnings(built_site):
    result, seconds, _ = built_site
    assert result.returncode == 0, result.stderr[-6000:]
    assert "WARNING" not in result.stderr, result.stderr[-6000:]
    assert seconds < BUILD_SECONDS_LIMIT


def public_names(module):
    """``__all__``, or the functions and classes the module defines without a leading _."""
    if hasattr(module, "__all__"):
        names = module.__all__
    else:
        names = [name for name, value in vars(module).items()
                 if not name.startswith("_")
                 and getattr(value, "__module__", None) == module.__name__]
    return [name for name in names if not name.startswith("__")
            and not isinstance(getattr(module, name), types.ModuleType)]


@needs_mkdocs
@pytest.mark.parametrize("module_name", sorted(API_PAGES))
def test_every_public_name_has_an_entry_on_its_api_page(built_site, module_name):
    result, _, site = built_site
    assert result.returncode == 0, result.stderr[-6000:]
    html = (site / API_PAGES[module_name] / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="([\w.]+)"', html))
    module = importlib.import_module(module_name)
    missing = []
    for name in public_names(module):
        defined_in = getattr(getattr(module, name), "__module__", None)
        if not {f"{module_name}.{name}", f"{defined_in}.{name}"} & anchors:
            missing.append(name)
    assert not missing, f"{module_name}: no entry on {API_PAGES[module_name]}.md for {missing}"



@needs_mkdocs
def test_rest_roles_render_as_code_not_as_markup(built_site):
    result, _, site = built_site
    assert result.returncode == 0, result.stderr[-6000:]
    for page in sorted(set(API_PAGES.values())):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert not re.search(r":(func|meth|class|mod|attr|exc):", html), page
