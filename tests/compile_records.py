"""A preamble for the child scripts of tests that check what numba compiles.

Prepended to a child's source, it records in ``emitted`` the name of every LLVM
module numba turns into machine code (its codegen's ``_add_module``), in order.
"""

RECORD_EMITTED_MODULES = r"""
from numba.core import codegen as _codegen

emitted = []
_add_module = _codegen.JITCPUCodegen._add_module


def _recording_add_module(self, module):
    emitted.append(module.name)
    return _add_module(self, module)


_codegen.JITCPUCodegen._add_module = _recording_add_module
"""
