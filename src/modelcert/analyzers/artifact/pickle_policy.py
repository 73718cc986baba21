"""Which imports a pickle may make: the allowlist and the known code-execution primitives.

The allowlist is what plain PyTorch / NumPy tensor checkpoints need (it mirrors the set
``torch.load(weights_only=True)`` accepts), plus joblib's array record. Every allowed callable only builds tensors,
containers or dtypes, or calls other callables that must themselves be imported (and so
are checked). Names are compared exactly: since protocol 4 a dotted *name* is an
attribute walk (``_rebuild_tensor.__globals__``), so prefixes prove nothing.
"""

from __future__ import annotations

import _compat_pickle
import re

from modelcert.analyzers.artifact.report import Severity

ALLOWED: frozenset[str] = frozenset({
    "collections.OrderedDict",
    "collections.Counter",
    "_codecs.encode",  # bytes in protocol-2 pickles
    "builtins.bytearray",
    "builtins.set",
    "builtins.frozenset",
    "builtins.complex",
    "builtins.slice",
    "copyreg._reconstructor",  # calls base.__new__(cls); cls and base are imports of their own
    "torch.Size",
    "torch.Tensor",
    "torch.device",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage",
    "torch._tensor._rebuild_from_type_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch.per_tensor_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_affine",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    # joblib's array record: it only stores subclass/shape/order/dtype; joblib.load then reads
    # the raw bytes after it, which the pickle walk sizes and steps over (or, for object
    # arrays, walks as the nested pickle they are)
    "joblib.numpy_pickle.NumpyArrayWrapper",
})
_ALLOWED_PATTERNS = (
    # dtypes: torch.float32, torch.bfloat16, torch.float8_e4m3fn, torch.uint4, torch.qint8, torch.bits8 ...
    re.compile(r"torch\.(u?int\d+|float\d+(_\w+)?|bfloat16|complex\d+|bool|half|double|long|q(u)?int\d+(x\d+)?|bits\w+)"),
    # legacy tensor / storage classes: torch.FloatStorage, torch.cuda.HalfTensor, torch.sparse.LongTensor
    re.compile(r"torch(\.cuda)?(\.sparse)?\.[A-Z][A-Za-z0-9]*(Storage|Tensor)"),
    # numpy 2 dtype classes: numpy.dtypes.Float32DType
    re.compile(r"numpy\.dtypes\.[A-Z][A-Za-z0-9]*DType"),
)

# module prefix -> why it is dangerous
_DANGEROUS_MODULES: dict[str, str] = {
    **dict.fromkeys(
        ["os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "commands", "popen2", "asyncio",
         "multiprocessing", "signal", "shutil", "platform"],
        "runs commands or touches the file system",
    ),
    **dict.fromkeys(
        ["importlib", "pkgutil", "imp", "zipimport", "sys", "site", "types", "inspect", "ctypes", "cffi",
         "gc", "weakref"],
        "reaches arbitrary modules, objects or native code",
    ),
    **dict.fromkeys(
        ["runpy", "code", "codeop", "timeit", "trace", "profile", "cProfile", "pdb", "bdb", "doctest",
         "idlelib", "operator", "functools"],
        "runs code strings or chains calls",
    ),
    **dict.fromkeys(["pip", "setuptools", "distutils", "ensurepip", "venv"], "installs or builds packages"),
    **dict.fromkeys(
        ["socket", "http", "urllib", "urllib2", "requests", "httpx", "ftplib", "smtplib", "telnetlib",
         "webbrowser", "ssl", "xmlrpc"],
        "opens network connections",
    ),
    **dict.fromkeys(
        ["pickle", "_pickle", "cPickle", "marshal", "dill", "cloudpickle", "joblib", "shelve", "copyreg",
         "torch.hub", "torch.jit", "torch.serialization", "torch.storage", "torch.package", "torch._C",
         "torch.utils.cpp_extension", "numpy.testing", "numpy.lib.npyio", "numpy.load", "_io", "io",
         "tempfile", "glob"],
        "loads nested pickles, code objects or files",
    ),
}
_DANGEROUS_BUILTINS = {
    "eval", "exec", "execfile", "compile", "__import__", "getattr", "setattr", "delattr", "open",
    "breakpoint", "input", "globals", "locals", "vars", "apply", "reload", "file", "help", "exit", "quit",
}


def _normalise(module: str, name: str) -> list[tuple[str, str]]:
    """The import as written and as Python 3 resolves it for old protocols (``__builtin__`` ...)."""
    out = [(module, name)]
    if (module, name) in _compat_pickle.NAME_MAPPING:
        out.append(_compat_pickle.NAME_MAPPING[(module, name)])
    elif module in _compat_pickle.IMPORT_MAPPING:
        out.append((_compat_pickle.IMPORT_MAPPING[module], name))
    return out


def _is_allowed(qualified: str) -> bool:
    return qualified in ALLOWED or any(p.fullmatch(qualified) for p in _ALLOWED_PATTERNS)


def _danger(module: str, name: str) -> str | None:
    if module == "builtins" and name.split(".")[0] in _DANGEROUS_BUILTINS:
        return "evaluates code or reaches arbitrary attributes"
    if any(part.startswith("__") and part.endswith("__") for part in name.split(".")):
        return "walks to Python internals through dunder attributes"
    qualified = f"{module}.{name}"
    for prefix, why in _DANGEROUS_MODULES.items():
        if module == prefix or module.startswith(prefix + ".") or qualified.startswith(prefix + "."):
            return why
    return None


def classify(module: str, name: str) -> tuple[Severity | None, str]:
    """Return (severity or None when allowed, reason) for one import ``module.name``."""
    forms = _normalise(module, name)
    resolved = forms[-1]  # what a Python 3 unpickler actually imports
    if _is_allowed(f"{resolved[0]}.{resolved[1]}"):
        return None, "allowlisted"
    for m, n in forms:
        why = _danger(m, n)
        if why:
            return "critical", why
    return "high", "not on the tensor-checkpoint allowlist"
