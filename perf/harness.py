"""Shared by the perf scripts: thread settings, timing, the GEMM yardstick, run metadata.

Import order matters: :func:`set_thread_env` must run before numpy, numba or torch
is imported (their pools read the environment when they start), so the scripts
parse their arguments first and import this module's numpy users afterwards.
"""

import hashlib
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS")
# Variables that change which BLAS kernels run, or how OpenMP pools wait: recorded
# with every measurement, since they change the figures.
BLAS_ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY",
                    "NUMBA_THREADING_LAYER", *THREAD_VARIABLES)

# Variables that make OpenBLAS run other kernels than it would choose on this CPU.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def restart_without_blas_overrides(keep):
    """Re-run this script without :data:`BLAS_OVERRIDES` in its environment, unless ``keep``.

    OpenBLAS reads them when it loads, so this must run before numpy is
    imported; with them set NumPy's GEMM ran older kernels at half the
    machine's speed. Returns (nothing changed) when none is set or ``keep``.
    """
    if not keep and any(name in os.environ for name in BLAS_OVERRIDES):
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  environment_without_blas_overrides())


def environment_without_blas_overrides(**extra):
    """This process's environment less :data:`BLAS_OVERRIDES`, plus ``extra``: for a child
    that should see OpenBLAS as a user's machine does."""
    environment = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    environment.update(extra)
    return environment


def child_json(command, label, env=None, cwd=ROOT):
    """Run ``command`` (a fresh interpreter); the JSON its last line of output holds.

    A child that fails raises RuntimeError naming ``label``, its exit status and
    the end of what it wrote to stderr, so that a perf script stops with the
    child's own traceback instead of a JSON decoding error.
    """
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def set_thread_env(threads):
    """Cap every pool (numba, both OpenBLAS copies, OpenMP, MKL) before it starts.

    Nothing is set when ``threads`` is None: the libraries then run with their
    own defaults, as a user runs them.
    """
    if threads is not None:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def set_numrnn_threads(threads):
    """``numrnn.set_num_threads`` where it exists (numba and BLAS together), else numba's."""
    import numba

    import numrnn

    if threads is None:
        return
    setter = getattr(numrnn, "set_num_threads", None)
    if setter is not None:
        setter(threads)
    else:
        numba.set_num_threads(threads)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return 0.5 * (ordered[middle - 1] + ordered[middle])


def time_call(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(runners, budget_s, warmup=2, min_rounds=5, max_rounds=200):
    """Time several callables in alternation; returns ``{name: {median_ms, min_ms, first_ms, n}}``.

    The first call of each (JIT compile or cache load, allocator warm-up) is
    reported as ``first_ms`` and excluded, then ``warmup`` more are dropped. Each
    round calls every runner once, in an order rotated every round, so a burst of
    load from other processes hits all of them alike.
    """
    names = list(runners)
    first = {name: time_call(runners[name]) for name in names}
    for _ in range(warmup):
        for name in names:
            runners[name]()
    samples = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds
                                   or time.perf_counter() - start < budget_s):
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(time_call(runners[name]))
        rounds += 1
    return {name: {"median_ms": 1e3 * median(samples[name]), "min_ms": 1e3 * min(samples[name]),
                   "first_ms": 1e3 * first[name], "n": len(samples[name])} for name in names}


def gemm_gflops(sizes=(512, 1024, 2048), budget_s=1.0):
    """Numpy float32 GEMM GFLOP/s per size (medians): the practical peak of the machine."""
    import numpy as np

    rng = np.random.default_rng(0)
    result = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), dtype=np.float32)
        timing = interleaved({"gemm": lambda a=a, b=b, out=out: np.matmul(a, b, out=out)},
                             budget_s, min_rounds=3)["gemm"]
        result[n] = 2.0 * n ** 3 / (timing["median_ms"] * 1e-3) / 1e9
    return result


def cpu_model():
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpu_features(cpuinfo_text=None):
    """``{"model_name", "family", "model", "flags"}`` of the first CPU in ``/proc/cpuinfo``.

    Fields that cannot be read (another OS, a field missing) are None, flags an
    empty list. ``cpuinfo_text`` replaces the file (for tests).
    """
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo_text = handle.read()
        except OSError:
            cpuinfo_text = ""
    fields = {}
    for line in cpuinfo_text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {"model_name": fields.get("model name") or platform.processor() or None,
            "family": fields.get("cpu family"), "model": fields.get("model"),
            "flags": fields.get("flags", "").split()}


VECTOR_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx2",
                "fma", "avx")


def vector_extensions(flags):
    """The vector extensions among ``flags`` that matter for float32 kernels, widest first."""
    return [flag for flag in VECTOR_FLAGS if flag in flags]


def vector_isa(flags):
    """The widest vector instruction set the flags announce: avx512, avx2, avx or sse."""
    for isa, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx")):
        if flag in flags:
            return isa
    return "sse"


def machine_key(features):
    """``"<model name> | family F model M | <vector isa>"``: the kind of machine a figure holds for.

    The model name alone is not enough (a virtual machine reports "AMD EPYC"
    for several generations), so the CPU family and model numbers are part of
    it, and the vector width is what numba and OpenBLAS compile and choose for.
    """
    return (f"{features['model_name'] or 'unknown CPU'} | family {features['family']} "
            f"model {features['model']} | {vector_isa(features['flags'])}")


def blas_pools():
    """threadpoolctl's view of the BLAS and OpenMP pools loaded now, or None without it.

    Each pool is ``{"library", "version", "threads", "architecture"}``; for
    OpenBLAS, ``architecture`` is the core type whose kernels it runs
    (``SkylakeX``, ``Haswell``, ``Zen``...), which ``OPENBLAS_CORETYPE`` overrides.
    """
    try:
        import threadpoolctl
    except ImportError:
        return None
    return [{"library": pool.get("internal_api"), "version": pool.get("version"),
             "threads": pool.get("num_threads"), "architecture": pool.get("architecture"),
             "path": pool.get("filepath")}
            for pool in threadpoolctl.threadpool_info()]


def blas_core(pools):
    """The OpenBLAS core type(s) in ``pools`` as one string, or None where none is known."""
    cores = sorted({pool["architecture"] for pool in pools or ()
                    if pool["library"] == "openblas" and pool["architecture"]})
    return ", ".join(cores) or None


def git_state():
    """``commit``, plus ``+dirty:<hash of the diff>`` when tracked files have changed.

    The hash tells two measurements of an uncommitted tree apart (kernels change
    while people measure); untracked files are not in it.
    """
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    diff = git("diff", "HEAD")
    if not diff:
        return commit
    return f"{commit}+dirty:{hashlib.sha1(diff.encode()).hexdigest()[:8]}"


def machine_info(threads):
    import numba
    import numpy as np

    features = cpu_features()
    pools = blas_pools()
    info = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "git": git_state(),
        "cpu": cpu_model(),
        "cpu_family": features["family"],
        "cpu_model": features["model"],
        "vector_extensions": vector_extensions(features["flags"]),
        "machine_key": machine_key(features),
        "blas_core": blas_core(pools),
        "blas_pools": pools,
        "blas_environment": {name: os.environ[name] for name in BLAS_ENVIRONMENT
                             if name in os.environ},
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threads": threads if threads is not None else "library defaults",
        "numba_threads": numba.get_num_threads(),
    }
    return info


def load_json(path):
    with open(path) as handle:
        return json.load(handle)


def write_report(folder, stem, text, data=None):
    """``text`` (markdown) as ``folder/stem.md``, and ``data``, if any, as ``stem.json``."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{stem}.md"), "w") as handle:
        handle.write(text)
    if data is not None:
        write_json(os.path.join(folder, f"{stem}.json"), data)


def write_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")
