"""The one place kernels get their Numba options and their cache.

Every cached kernel is made by :func:`jit` (or one of the decorators below,
made by it), so all of them share :mod:`numrnn.kernels.kernel_cache` and the
same base options:

- ``error_model="numpy"`` drops the zero-division branch that numba's default
  ("python") adds to every float division; that branch stops LLVM from
  vectorising loops.
- ``nogil=True`` lets server threads run kernels at the same time.
- ``no_cfunc_wrapper=True``: numba would compile, for every kernel, a C
  wrapper that only passing a kernel as a first-class function uses (numrnn
  never does), a part of a first call's compile time.

``inline_kernel`` is for the small per-element helpers called inside the
kernels' vectorised loops, and for the block and time-index helpers (below):
Numba inlines it into the caller before LLVM sees the loop. A helper compiled
as a separate function (``kernel``) can stay an out-of-line call per element,
which stops the loop from vectorising (measured: LSTM gate loop 29 ns per
element instead of 4.5). It is not cached on its own; its callers are.

Nothing is compiled when a kernel module is imported: each kernel compiles (or
loads from the cache) at its first call with a new signature.

A kernel called from another compiles for the types its caller passes, and
numba types a literal ``0`` as ``Literal[int](0)``, and a ``prange`` index as
int64 while typing the loop and as uint64 in the parallel body it makes: the
same block function compiled up to three times. So callers pass block and chunk
indices as ``np.int64(...)``. With an empty cache, the first LSTM forward and
backward (B = 16) compiled 109 functions, 33 of its 132 s in such duplicates
(measured on a loaded machine: ``perf/cold_start.py --compile-events``).

What else a first call compiles is kept to what it runs (docs/performance.md,
"Cold start"):

- no slice assignment between arrays (``a[i:j] = b``) and no ``.max()`` in the
  plain LSTM's, GRU's and Elman RNN's kernels and the helpers every cell shares
  (the cell variants' kernels still have some; converting them would shorten
  their first calls too): numba checks the shapes of the first at run time and
  compiles the formatting of its error message, about 30 functions of string
  code, and the second compiles an array iterator. Kernels copy with element
  loops; inputs are checked above the kernels, in Python, as before;
- one array layout per kernel argument where the caller can choose it (the
  packing kernel takes a transposed view as its C-contiguous transpose and a
  flag): each layout is a compilation of its own;
- the block and time-index helpers are ``inline_kernel``: a separately
  compiled function costs its own module, optimised once more by every caller
  and emitted as machine code each time. The LSTM's row functions stay
  separate functions (``linked_kernel``; the projection path's ``_step_row`` a
  ``kernel``): inlined, the training step at B = 32 ran about 3% slower;
- a parallel kernel that only calls kernels is a ``parallel_driver``
  (:class:`_DriverKernel`): lowered at optimisation level 0, so that the callee
  tree it links in is not re-optimised three more times (the parallel body,
  numba's wrapper of it and the function itself);
- machine code is generated once per tree, by the function Python calls: numba
  finalizes every library it makes, generating machine code for it and all it
  links in, so a leaf was generated again at every level above it. A driver's
  loop body and its two wrappers (:class:`_LinkedOnlyLibrary`), and the kernels
  only other kernels call (``linked_kernel``, :class:`_LinkedOnlyKernel`: the
  LSTM's block and row kernels, the gradient products' task, the packed register
  tiles, the GEMM glue's orientation), stay LLVM IR that their callers link in.
  The first LSTM forward + backward spent 5.5 of its 17.9 CPU seconds
  generating machine code before, 1.5 of 11.5 after (one run each on a loaded
  machine; docs/performance.md, "Cold start", session 13);
- since session 15 the bias helpers, the overloads' code (``OVERLOAD_OPTIONS``:
  the GEMM and product glue, the activations' dispatch, ``plan``'s compiled
  rules) and the float32 activations are linked-only too; the activations are
  called from Python as well, through a twin compiled only then
  (:class:`_LinkedKernelCallableFromPython`);
- optimising a driver-called block's own module before its callees are linked
  in (not after, with the whole tree: LLVM's module passes run over the LSTM's
  rows, products and tiles once in their own compilation and again inside the
  block) cut the LSTM's module optimisation from 1.7 to 0.9 CPU s, but the
  callees then keep the code their own optimisation made: the warm LSTM ran
  1.05-1.09x as long at small sizes (idle A/B), the GRU's training 1.13x. Not
  kept (docs/performance.md, "Cold start (session 15, coldstart)").
"""

import threading
import weakref

import numba
from numba.core import compiler, config
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler_lock import global_compiler_lock
from numba.core.compiler_machinery import AnalysisPass, register_pass
from numba.core.cpu import ParallelOptions
from numba.core.registry import CPUDispatcher
from numba.core.typed_passes import AnnotateTypes
from numba.parfors.parfor import Parfor

from numrnn.kernels import kernel_cache, threading_layer

# Before any kernel can run in parallel: numba picks its threading layer at the
# first parallel call, and TBB is the one that survives fork.
threading_layer.prefer_tbb()

# A kernel's options, and the flags a linked-only kernel is typed with (_KeepAsIR).
KERNEL_OPTIONS = {"nopython": True, "nogil": True, "error_model": "numpy",
                  "no_cfunc_wrapper": True}
# For an overload inlined into kernels, whose calls must be typed with the flags a
# kernel (or a linked-only kernel, _KeepAsIR) is typed with to share what those
# compile: numba gives an overload's implementation no CPython wrapper by default,
# and numba compiles what a function calls once per set of its caller's flags.
INLINED_OVERLOAD_OPTIONS = {**KERNEL_OPTIONS, "no_cpython_wrapper": False}


class _Kernel(CPUDispatcher):
    """A numba dispatcher whose cache is numrnn's (``enable_caching`` is numba's hook)."""

    def enable_caching(self):
        kernel_cache.attach(self)


class _SLPVectorisedKernel(_Kernel):
    """Compiled with LLVM's SLP vectoriser on, which numba leaves off by default.

    The switch is numba's process-wide ``config.SLP_VECTORIZE``, read when a
    compiled module is optimised, which happens inside ``compile``. Holding
    numba's compiler lock around the switch keeps every other compilation (all
    of them take that lock) from seeing it, whichever thread it runs in. It
    applies to whatever triggers the compile: a direct call, or a caller being
    compiled that calls this kernel.
    """

    def compile(self, sig):
        with global_compiler_lock:
            # numba's compiler re-reads every NUMBA_* variable when one of them has
            # changed since it last looked, which would reset the switch mid-compile:
            # let it look now, before the switch is set.
            config.reload_config()
            previous = config.SLP_VECTORIZE
            config.SLP_VECTORIZE = 1
            try:
                return super().compile(sig)
            finally:
                config.SLP_VECTORIZE = previous


class _DriverLibrary(JITCodeLibrary):
    """A driver's code library (:class:`_DriverKernel`): its module, lowered at
    optimisation level 0, gets only the passes that drop what is left dead.

    numba lowers each reference to a kernel it calls as that kernel's address, a
    "dynamic global", which optimisation removes when the value goes unused (it
    always does: the call itself goes to the kernel's symbol). Left in, numba
    refuses to cache the function, so these passes remove them.
    """

    def _optimize_final_module(self):
        super()._optimize_final_module()
        manager, builder = self._codegen._module_pass_manager()
        manager.add_sroa_pass()
        manager.add_dead_code_elimination_pass()
        manager.add_global_dead_code_eliminate_pass()
        manager.run(self._final_module, builder)


class _LinkedOnlyLibrary(JITCodeLibrary):
    """A code library that numba links into a driver but never calls on its own:
    its machine code is generated only if its address is asked for.

    Lowering a ``prange`` loop, numba compiles the loop's body as a function
    (the "gufunc"), a wrapper that calls it over a range of the loop and a
    wrapper that hands that range to the threading layer, each in a library of
    its own that the next links in, the driver last. numba finalizes each of
    them on its way, and finalizing generates the machine code of the library's
    whole linked tree (the block kernel, its rows, products and register
    tiles), three times over, though only the driver's copy ever runs: the
    driver's module links the three in and calls them there. Kept as LLVM IR
    only, they are linked, optimised and verified as before; the driver's code
    is the same, so results are the same to the bit.
    """

    _emitted = False

    @property
    def codegen(self):
        return _EnvironmentOnceEmitted(self)

    def _finalize_final_module(self):
        if self._shared_module is not None:
            # Loaded from the disk cache while a driver lowers (numba made every
            # library of that window this class): its machine code exists, and
            # numba's own finalization makes it callable.
            self._emitted = True
            super()._finalize_final_module()
            return
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def get_pointer_to_function(self, name):
        self._ensure_finalized()
        if not self._emitted:
            try:
                if self._final_module.get_function(name).is_declaration:
                    return 0
            except NameError:  # not in the module at all: a wrapper that was not made
                return 0
            self._emit()
        return super().get_pointer_to_function(name)

    def _get_compiled_object(self):
        # A cache entry is machine code: a cached kernel compiled while a driver was
        # lowered would ask for it.
        self._ensure_finalized()
        self._emit()
        return super()._get_compiled_object()

    def _emit(self):
        """What numba's own finalization does after linking and optimising, once."""
        if self._emitted:
            return
        self._emitted = True
        # numba's object-cache hook finds the library through its module.
        self._final_module._CPUCodeLibrary__library = weakref.proxy(self)
        self._codegen._add_module(self._final_module)
        self._finalize_specific()


class _EnvironmentOnceEmitted:
    """numba's codegen as a :class:`_LinkedOnlyLibrary`'s users see it: the
    environment of a function compiled into it (a global of its module that
    numba sets to the address of the function's Python-side environment) is set
    only where the module's machine code exists, so a freshly compiled driver's
    copy of linked-only code has a null environment (a driver loaded from the
    disk cache gets its environments set by numba). Nothing linked-only may use
    it: no ``print``, no object mode, no exception carrying run-time values (a
    ``print`` in a ``linked_kernel`` hangs the process). The kernels raise nothing."""

    def __init__(self, library):
        self._library = library

    def set_env(self, env_name, env):
        if self._library._emitted:
            self._library._codegen.set_env(env_name, env)

    def __getattr__(self, name):
        return getattr(self._library._codegen, name)


@register_pass(mutates_CFG=False, analysis_only=True)
class _LowerUnoptimised(AnalysisPass):
    """Sets numba's optimisation level to 0 for the rest of a compilation, which is
    its lowering, and gives it a :class:`_DriverLibrary`. The kernels it calls were
    compiled, at the usual level, while it was typed; :class:`_DriverKernel`
    restores the level.

    The libraries numba makes while lowering the driver's ``prange`` loops are
    :class:`_LinkedOnlyLibrary`, and the loop bodies get no CPython wrapper (only
    a call from Python uses one; the threading layer calls the body's native
    function), whose address would be asked for, and its machine code generated.
    """

    _name = "numrnn_lower_unoptimised"

    def __init__(self):
        AnalysisPass.__init__(self)

    def run_pass(self, state):
        config.OPT = type(config.OPT)(0)
        codegen = state.targetctx.codegen()
        state.library = _DriverLibrary(codegen, state.func_id.func_qualname)
        state.library.enable_object_caching()
        codegen._library_class = _LinkedOnlyLibrary
        for block in state.func_ir.blocks.values():
            for instruction in block.body:
                if isinstance(instruction, Parfor):
                    instruction.flags = instruction.flags.copy()
                    instruction.flags.no_cpython_wrapper = True
        return False


@register_pass(mutates_CFG=False, analysis_only=True)
class _KeepAsIR(AnalysisPass):
    """Gives the rest of a compilation, its lowering, a :class:`_LinkedOnlyLibrary`
    (see :class:`_LinkedOnlyKernel`), and drops its CPython wrapper.

    The wrapper is dropped here, after typing, not by the kernel's options: numba
    compiles a library function a kernel calls (``np.empty``, ``min``, a
    ``register_jitable`` rule such as ``plan.block_size``) once for every set of
    compile flags among its callers, and ``no_cpython_wrapper`` is one of those
    flags, though it changes nothing in the function. Typed with a ``kernel``'s
    flags, a linked-only kernel shares what kernels have compiled.
    """

    _name = "numrnn_keep_as_ir"

    def __init__(self):
        AnalysisPass.__init__(self)

    def run_pass(self, state):
        # A copy: numba keeps the flags object typing saw as part of its cache keys.
        state.flags = state.flags.copy()
        state.flags.no_cpython_wrapper = True
        state.library = _LinkedOnlyLibrary(state.targetctx.codegen(),
                                           state.func_id.func_qualname)
        return False


class _LinkedOnlyCompiler(compiler.Compiler):
    """numba's pipeline with :class:`_KeepAsIR` between typing and lowering."""

    def define_pipelines(self):
        pipelines = super().define_pipelines()
        for pipeline in pipelines:
            pipeline.add_pass_after(_KeepAsIR, AnnotateTypes)
            pipeline.finalize()
        return pipelines


# For numba ``overload``s that only kernels call (``blas.gemm``, ``matvec.product``):
# numba's default options would give each of their compilations a C wrapper, lowered
# and turned into machine code though nothing calls it, and Python's error model.
# Compiled as linked-only code (:class:`_KeepAsIR`, which also drops the CPython
# wrapper), typed with a kernel's flags.
OVERLOAD_OPTIONS = {**KERNEL_OPTIONS, "pipeline_class": _LinkedOnlyCompiler}


class _LinkedOnlyKernel(_Kernel):
    """A kernel that only other kernels call: compiled to LLVM IR that its callers
    link in, never to machine code of its own.

    numba finalizes every compiled function's library, generating machine code for
    it and everything it links in, and then the caller links it all in again and
    generates it again. A kernel no Python code calls (a batch block of a parallel
    driver, the row step inside it, a task of a driver's table) needs neither its
    own machine code nor a CPython wrapper: only the code its caller generates ever
    runs, the same as before to the bit. Nor is it cached on its own: what a cache
    entry holds is machine code, and its callers' entries hold its code already (a
    process that loads them from the disk cache never compiles it). Called from
    Python, it refuses.
    """

    def enable_caching(self):
        pass

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__qualname__} is compiled only into the kernels that "
                        "call it; call one of those")


class _LinkedKernelCallableFromPython(_LinkedOnlyKernel):
    """A :class:`_LinkedOnlyKernel` that Python may call too (the float32
    activations): such a call runs a twin, an ordinary cached kernel
    of the same function and options, compiled only when Python first calls it.
    The kernels that call it link in its LLVM IR as from any linked-only kernel.
    """

    _twin = None
    # One twin however many threads call at once (made under it, at most once).
    _twin_lock = threading.Lock()

    def python_twin(self):
        """The ordinary kernel that Python's calls run (``inspect_asm`` and the like)."""
        with self._twin_lock:
            if self._twin is None:
                twin = _Kernel(py_func=self.py_func, locals={},
                               targetoptions=dict(self.targetoptions),
                               pipeline_class=compiler.Compiler)
                twin.enable_caching()
                self._twin = twin
        return self._twin

    def __call__(self, *args, **kwargs):
        return self.python_twin()(*args, **kwargs)


class _DriverCompiler(compiler.Compiler):
    """numba's pipeline with :class:`_LowerUnoptimised` between typing and lowering."""

    def define_pipelines(self):
        pipelines = super().define_pipelines()
        for pipeline in pipelines:
            pipeline.add_pass_after(_LowerUnoptimised, AnnotateTypes)
            pipeline.finalize()
        return pipelines


class _DriverKernel(_Kernel):
    """A parallel kernel whose own code is lowered without LLVM's optimisations.

    LLVM optimises each compiled function's module with every kernel it calls
    linked in, already optimised in its own compilation: a parallel function
    re-optimises that whole tree three times more (its parallel body, numba's
    wrapper around that body, and itself). For a driver whose own code only
    calls kernels (``prange`` over batch blocks), that is most of its compile
    time and changes nothing in the code that runs: the callees' code is the one
    their own compilation optimised (at the usual level; they compile while the
    driver is typed, before :class:`_LowerUnoptimised` runs), and machine code
    is generated at the usual level whatever the optimisation level, so results
    are the same to the bit. Anything the driver computes itself, even an array
    copy, runs unoptimised: keep it in the kernels it calls or in Python.
    ``numba.core.config.OPT`` is process-wide and read whenever a module is
    optimised, so it is switched under numba's compiler lock, as for
    :class:`_SLPVectorisedKernel`, and put back even when compilation fails.
    """

    def compile(self, sig):
        with global_compiler_lock:
            config.reload_config()
            previous = config.OPT
            try:
                return super().compile(sig)
            finally:
                config.OPT = previous
                # Back to numba's library class (_LowerUnoptimised set ours).
                vars(self.targetctx.codegen()).pop("_library_class", None)


class _SLPVectorisedLinkedOnlyKernel(_SLPVectorisedKernel, _LinkedOnlyKernel):
    """Both: compiled with the SLP vectoriser on, into its callers only (the
    register tiles, which only :func:`numrnn.kernels.packed.product` calls)."""


def jit(*, slp_vectorize=False, driver=False, linked_only=False, python_callable=False,
        **options):
    """A decorator making a cached kernel: numba's ``njit`` with the base options
    above, ``options`` on top, and :class:`~numrnn.kernels.kernel_cache.KernelCache`;
    ``slp_vectorize`` for :class:`_SLPVectorisedKernel`, ``driver`` for
    :class:`_DriverKernel`, ``linked_only`` for :class:`_LinkedOnlyKernel` (not
    cached; it combines with ``slp_vectorize``, or with ``python_callable`` for
    :class:`_LinkedKernelCallableFromPython`)."""
    if python_callable and (slp_vectorize or not linked_only):
        # Either flag would be dropped without a word: no dispatcher combines them.
        raise ValueError("python_callable is for a linked_only kernel without "
                         "slp_vectorize")
    if linked_only and python_callable:
        dispatcher_class, pipeline = _LinkedKernelCallableFromPython, _LinkedOnlyCompiler
    elif slp_vectorize and linked_only:
        dispatcher_class, pipeline = _SLPVectorisedLinkedOnlyKernel, _LinkedOnlyCompiler
    elif slp_vectorize:
        dispatcher_class, pipeline = _SLPVectorisedKernel, compiler.Compiler
    elif driver:
        dispatcher_class, pipeline = _DriverKernel, _DriverCompiler
    elif linked_only:
        dispatcher_class, pipeline = _LinkedOnlyKernel, _LinkedOnlyCompiler
    else:
        dispatcher_class, pipeline = _Kernel, compiler.Compiler

    def decorate(function):
        if config.DISABLE_JIT:
            return function
        dispatcher = dispatcher_class(py_func=function, locals={},
                                      targetoptions={**KERNEL_OPTIONS, **options},
                                      pipeline_class=pipeline)
        dispatcher.enable_caching()
        return dispatcher

    return decorate


# Only explicit prange loops run in parallel: with numba's default parallel
# options every np.zeros or array expression in a kernel's body would become a
# parallel region of its own, started and joined even for a few hundred
# elements (the forward kernels allocate their outputs).
# An options object, not a dict: numba pops the keys of a dict while compiling
# the first signature, so every later one would get the defaults.
PRANGE_ONLY = ParallelOptions({"prange": True, "numpy": False, "comprehension": False,
                               "reduction": False, "inplace_binop": False, "setitem": False,
                               "stencil": False, "fusion": False})

kernel = jit()
# A kernel only other kernels call (see _LinkedOnlyKernel).
linked_kernel = jit(linked_only=True)
parallel_kernel = jit(parallel=PRANGE_ONLY)
# A parallel kernel whose own code only calls kernels (see _DriverKernel).
parallel_driver = jit(parallel=PRANGE_ONLY, driver=True)
# FMA contraction, for kernels made of multiply-adds: "contract" changes no
# result by more than the rounding of one multiply.
product_kernel = jit(fastmath={"contract"})
inline_kernel = numba.njit(inline="always", nogil=True, error_model="numpy")
