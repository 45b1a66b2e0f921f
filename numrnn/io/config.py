"""The config protocol and the model registry that let ``load_model`` rebuild a module.

The protocol
------------
A module that can be rebuilt from a file defines ``get_config()``, returning
the keyword arguments of its constructor as a dict of JSON values (str, int,
float, bool, None, lists and dicts of them), so that ``cls(**config)`` builds
an equal module with fresh weights, before the file's weights are loaded in::

    class LSTM(RNNBase):
        def get_config(self):
            return {"input_size": 10, "hidden_size": 20, "dtype": "float32", ...}

- ``dtype`` travels as its name (``"float32"``); constructors accept it as is,
  because ``np.dtype("float32")`` works.
- Leave out what only affects the initial weights or randomness (``rng``): the
  weights come from the file.
- A module inside the config (the children of a container) is written as
  ``{"class_name": name, "config": {...}}``, the same form as the top level; a
  Module instance placed in the config is converted to that form, and either
  is rebuilt into a module before the parent's constructor is called. (So a
  plain dict with exactly the keys ``class_name`` and ``config`` always means
  a module.)
- The constructor gets the config as keyword arguments, except that a
  ``*name`` parameter takes the list stored under ``name``:
  ``Sequential(*modules)`` is rebuilt from ``{"modules": [...]}``. A class
  needing anything else defines a classmethod ``from_config(config)``.
- The class is found again by name in the registry: ``register_model(cls)``,
  usable as a decorator. Every class exported by ``numrnn.nn`` that defines
  ``get_config`` is registered on first use, so layers in ``numrnn/nn`` need
  nothing more than the method (``nn`` never imports ``io``).

In the file, the module's spec is the JSON string metadata entry
``numrnn.config``: ``{"class_name": "LSTM", "config": {...}}``. It nests at most
32 JSON levels (:data:`numrnn.io.untrusted_json.MAX_JSON_DEPTH`; ``save``
refuses deeper), and ``load_model`` builds it under a limit on the parameters
the module may allocate (:func:`numrnn.nn.parameter.limit_parameters`).
"""

from __future__ import annotations

import inspect
import json
import math
from typing import TypeVar

import numpy as np

from numrnn.errors import FormatError, NumrnnError
from numrnn.io.untrusted_json import MAX_JSON_DEPTH, brief, nesting_depth

_REGISTRY: dict[str, type] = {}
# register_model is a class decorator: the class it returns is the one it was given.
ModelClass = TypeVar("ModelClass", bound=type)
_builtins_registered = False


def register_model(cls: ModelClass) -> ModelClass:
    """Make ``cls`` rebuildable by :func:`numrnn.load_model`, under ``cls.__name__``.

    Returns ``cls``, so it works as a class decorator. Registering the same
    class again does nothing; a different class with an already registered
    name is refused, since files name classes by their bare name.
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "get_config", None)):
        raise NumrnnError(f"register_model: expected a Module class with a get_config() "
                          f"method, got {cls!r}")
    name = cls.__name__
    registered = _REGISTRY.get(name)
    if registered is not None and registered is not cls:
        raise NumrnnError(f"register_model: the name '{name}' already belongs to "
                          f"{registered.__module__}.{registered.__qualname__}; rename "
                          f"{cls.__module__}.{cls.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def registered_models() -> dict[str, type]:
    """A copy of the registry: class name to class."""
    _register_builtins()
    return dict(_REGISTRY)


def _register_builtins():
    # Done lazily, at first use rather than import: layers that other modules of
    # numrnn.nn add later are picked up without io having to know them.
    global _builtins_registered
    if _builtins_registered:
        return
    from numrnn import nn
    from numrnn.nn.module import Module

    for name in nn.__all__:
        member = getattr(nn, name, None)
        if isinstance(member, type) and issubclass(member, Module) \
                and callable(getattr(member, "get_config", None)):
            _REGISTRY.setdefault(member.__name__, member)
    _builtins_registered = True


# -- module -> JSON ------------------------------------------------------------------
def module_spec(module):
    """``{"class_name": name, "config": ...}`` for a module with ``get_config``, else None."""
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        return None
    name = type(module).__name__
    where = f"{name}.get_config()"
    try:
        config = get_config()
    except NumrnnError as exc:
        raise FormatError(f"{where} failed, so the module cannot be saved with its config "
                          f"({exc}); save module.state_dict() to keep the weights only") from exc
    if not isinstance(config, dict):
        raise FormatError(f"{where} must return a dict, got {type(config).__name__}")
    return {"class_name": name, "config": _encode(config, where)}


def _encode(value, where):
    from numrnn.nn.module import Module

    if isinstance(value, Module):
        spec = module_spec(value)
        if spec is None:
            raise FormatError(f"{where}: the {type(value).__name__} it holds has no "
                              "get_config(), so it cannot be saved as config")
        return spec
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FormatError(f"{where}: keys must be str, got {key!r}")
            encoded[key] = _encode(item, f"{where}[{key!r}]")
        return encoded
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{where}[{index}]") for index, item in enumerate(value)]
    # Exact types: numpy scalars subclass float/int only sometimes, and json refuses them.
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise FormatError(f"{where}: {value} is not a JSON number")
        return value
    hint = "; give a dtype by its name, e.g. 'float32'" \
        if isinstance(value, (np.dtype, type)) else ""
    raise FormatError(f"{where}: {value!r} ({type(value).__name__}) is not a JSON value{hint}")


def dumps_spec(spec):
    """``spec`` as the JSON text of the file's config; refused if load_model could not read it."""
    text = json.dumps(spec, allow_nan=False, separators=(",", ":"))
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise FormatError(f"{spec['class_name']}: its config nests {depth} levels deep, and "
                          f"numrnn.load_model reads at most {MAX_JSON_DEPTH} (each nested "
                          "Sequential adds 3): flatten the model, or save its state_dict()")
    return text


# -- JSON -> module ------------------------------------------------------------------
def build_module(spec, where="numrnn.config"):
    """The module that ``spec`` (``{"class_name", "config"}``) describes, with fresh weights."""
    if not _is_spec(spec):
        raise FormatError(f"{where}: expected {{'class_name': str, 'config': {{...}}}}, "
                          f"got {_short(spec)}")
    _register_builtins()
    name = spec["class_name"]
    cls = _REGISTRY.get(name)
    if cls is None:
        raise FormatError(f"{where}: class {brief(name)} is not registered; register it with "
                          f"numrnn.io.register_model before load_model "
                          f"(registered: {', '.join(sorted(_REGISTRY))})")
    config = _decode(spec["config"], f"{where} {name}.config")
    try:
        return _construct(cls, config)
    # What a constructor raises for arguments of the wrong type or size (OverflowError
    # is an ArithmeticError). MemoryError and RecursionError are not caught: the
    # parameter limit and the nesting bound exist so that no file causes them, and
    # turning one into a FormatError would hide the hole instead of reporting it.
    except (TypeError, ValueError, ArithmeticError, LookupError, NumrnnError) as exc:
        raise FormatError(f"{where}: cannot build {name} from its saved config "
                          f"{_short(spec['config'])}: {exc}") from exc


def _construct(cls, config):
    from_config = getattr(cls, "from_config", None)
    if callable(from_config):
        return from_config(config)
    args, kwargs = [], dict(config)
    for parameter in inspect.signature(cls).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL and parameter.name in kwargs:
            args = kwargs.pop(parameter.name)
    return cls(*args, **kwargs)


def _is_spec(value):
    return isinstance(value, dict) and set(value) == {"class_name", "config"} \
        and isinstance(value["class_name"], str) and isinstance(value["config"], dict)


def _decode(value, where):
    if _is_spec(value):
        return build_module(value, where)
    if isinstance(value, dict):
        return {key: _decode(item, f"{where}[{brief(key)}]") for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def _short(value, limit=200):
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
