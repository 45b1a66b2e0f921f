"""Every function and method of the public API carries type annotations.

mypy (tests/test_type_check.py) checks that the annotations agree with the code;
this test checks that they are there. It walks what users reach, the ``__all__``
of numrnn and of each documented module, rather than whole files, so private
helpers may stay unannotated while anything public that loses a parameter's or
a return's annotation fails here by name.
"""

import importlib
import inspect
import types

import numrnn

PUBLIC_MODULES = [
    "numrnn", "numrnn.autograd", "numrnn.cli", "numrnn.data", "numrnn.diagnostics",
    "numrnn.distributed", "numrnn.errors", "numrnn.functional", "numrnn.generate",
    "numrnn.inference", "numrnn.io", "numrnn.keras", "numrnn.nn", "numrnn.onnx", "numrnn.optim",
    "numrnn.optim.lr_scheduler", "numrnn.testing", "numrnn.training", "numrnn.typing",
]
# Special methods that are part of how the public classes are used: construction,
# calls, containers, context managers and Tensor's operators.
PUBLIC_DUNDERS = {
    "__init__", "__call__", "__getitem__", "__setitem__", "__delitem__", "__contains__",
    "__len__", "__iter__", "__enter__", "__exit__", "__bool__", "__neg__", "__pow__",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__matmul__", "__rmatmul__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
}


def public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return names


def functions_of_class(cls):
    """The public functions ``cls`` and its numrnn base classes define, by qualified name."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("numrnn"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name not in PUBLIC_DUNDERS:
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                yield from (f for f in (member.fget, member.fset) if f is not None)
            elif inspect.isfunction(member):
                yield member


def public_functions():
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            if inspect.isclass(obj) and obj.__module__.startswith("numrnn"):
                candidates = list(functions_of_class(obj))
            elif inspect.isfunction(obj) and obj.__module__.startswith("numrnn"):
                candidates = [obj]
            else:
                continue
            for function in candidates:
                # Functions that dataclasses and namedtuples generate have no source.
                if function.__code__.co_filename.startswith("<"):
                    continue
                found[function.__module__ + "." + function.__qualname__] = function
    return found


def missing_annotations(function):
    missing = []
    parameters = list(inspect.signature(function).parameters.values())
    for index, parameter in enumerate(parameters):
        if index == 0 and parameter.name in ("self", "cls"):
            continue
        if parameter.annotation is inspect.Parameter.empty:
            missing.append(parameter.name)
    if "return" not in function.__annotations__:
        missing.append("return")
    return missing


def test_the_walk_finds_the_public_api():
    # A walk that found nothing would pass vacuously.
    functions = public_functions()
    for expected in ("numrnn.autograd.tensor.Tensor.backward", "numrnn.nn.recurrent.LSTM.forward",
                     "numrnn.nn.module.Module.state_dict", "numrnn.functional.lstm.lstm",
                     "numrnn.io.save.save", "numrnn.training.fit.fit", "numrnn.cli.main",
                     "numrnn.optim.adam.Adam.__init__", "numrnn.generate.generate"):
        assert expected in functions
    assert len(functions) > 300


def test_every_public_function_and_method_is_annotated():
    unannotated = {name: missing for name, function in sorted(public_functions().items())
                   if (missing := missing_annotations(function))}
    assert not unannotated, "public functions without annotations (name: what is missing):\n" + \
        "\n".join(f"  {name}: {', '.join(missing)}" for name, missing in unannotated.items())


def test_the_package_is_marked_as_typed():
    marker = inspect.getfile(numrnn).replace("__init__.py", "py.typed")
    with open(marker, "rb") as file:
        assert file.read() == b""
