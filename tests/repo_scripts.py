"""Import the repository's scripts (examples/, perf/) by path: they are not package modules."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(relative_path):
    """The script at ``ROOT / relative_path``, executed as a fresh module."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
