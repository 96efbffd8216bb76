"""Saving and loading models as ``.npz`` files: atomic, validated, never unpickled.

A saved file is an ordinary NumPy ``.npz`` archive (readable with
``np.load(path, allow_pickle=False)``) holding one ``.npy`` entry per parameter and
a ``__header__`` entry: UTF-8 JSON in a uint8 array that records the format
version, what was saved (a model or a plain state dict), the model class with the
constructor arguments needed to rebuild it, and the shape and dtype of every array.

>>> import tempfile, pathlib
>>> from tinygrad_lr import nn
>>> model = nn.MLP([2, 4, 1], rng=0)
>>> with tempfile.TemporaryDirectory() as directory:
...     path = pathlib.Path(directory) / "model.npz"
...     save(model, path)
...     restored = load(path)
>>> restored
MLP(
  layer_sizes=[2, 4, 1], activation='tanh'
  (0): Linear(in_features=2, out_features=4, bias=True)
  (1): Tanh()
  (2): Linear(in_features=4, out_features=1, bias=True)
)
>>> bool((restored.layers[0].weight.data == model.layers[0].weight.data).all())
True
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import io
import itertools
import json
import logging
import math
import os
import secrets
import stat
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tinygrad_lr import nn
from tinygrad_lr._checks import positive_int
from tinygrad_lr.tensor import Tensor

__all__ = ["FORMAT_VERSION", "SerializationError", "load", "save"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT_NAME = "tinygrad_lr"
HEADER_KEY = "__header__"

# NOTE: both bounds are checked before anything of that size is read or allocated,
# so a file that claims a 4 GB header or a petabyte array fails fast.
MAX_HEADER_BYTES = 1 << 20
MAX_NPY_HEADER_BYTES = 10_000

FLOAT_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}


class SerializationError(ValueError):
    """A file that :func:`load` cannot read: truncated, corrupt, or not valid.

    The message names the file; when a lower-level error (zipfile, NumPy, JSON) was
    the cause, it is chained as ``__cause__``.
    """


Shapes = dict[str, tuple[int, ...]]


def _linear_shapes(in_features: int, out_features: int, bias: bool = True) -> Shapes:
    """The parameter shapes of ``nn.Linear(in_features, out_features, bias)``."""
    in_features = positive_int(in_features, "Linear", "in_features")
    out_features = positive_int(out_features, "Linear", "out_features")
    shapes: Shapes = {"weight": (in_features, out_features)}
    if bias:
        shapes["bias"] = (out_features,)
    return shapes


def _logistic_regression_shapes(n_features: int) -> Shapes:
    """The parameter shapes of ``nn.LogisticRegression(n_features)``."""
    n_features = positive_int(n_features, "LogisticRegression", "n_features")
    return {"weight": (n_features,), "bias": ()}


def _mlp_shapes(layer_sizes: Sequence[int], activation: str = "tanh") -> Shapes:
    """The parameter shapes of ``nn.MLP(layer_sizes, activation)``: a Linear layer
    at every even index of ``layers``, with an activation after each but the last.

    ``activation`` changes no shape; it is accepted so that the recorded arguments
    bind, and the MLP constructor checks its value.
    """
    sizes = [positive_int(size, "MLP", "every layer size") for size in layer_sizes]
    return {
        f"layers.{2 * index}.{key}": shape
        for index, (in_features, out_features) in enumerate(itertools.pairwise(sizes))
        for key, shape in _linear_shapes(in_features, out_features).items()
    }


# The models that save() can rebuild: class name -> (class, its constructor
# arguments, and the parameter shapes those arguments give, computed without
# building the model).
MODELS: dict[
    str,
    tuple[
        Callable[..., nn.Module],
        Callable[[Any], dict[str, Any]],
        Callable[..., Shapes],
    ],
] = {
    "LogisticRegression": (
        nn.LogisticRegression,
        lambda model: {"n_features": model.n_features},
        _logistic_regression_shapes,
    ),
    "MLP": (
        nn.MLP,
        lambda model: {
            "layer_sizes": list(model.layer_sizes),
            "activation": model.activation,
        },
        _mlp_shapes,
    ),
    "Linear": (
        nn.Linear,
        lambda model: {
            "in_features": model.in_features,
            "out_features": model.out_features,
            "bias": model.bias is not None,
        },
        _linear_shapes,
    ),
}


def _check_array(key: str, value: Any, where: str) -> np.ndarray:
    """Return ``value`` as a native float32/float64 array, or raise."""
    if not isinstance(key, str) or not key or key.startswith("__"):
        raise ValueError(
            f"{where}: state dict keys must be non-empty strings not starting with"
            f" '__', got {key!r}"
        )
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        raise TypeError(
            f"{where}: {key!r} has dtype {array.dtype}; only float32 and float64"
            " arrays can be saved"
        )
    if not np.isfinite(array).all():
        raise ValueError(
            f"{where}: {key!r} contains NaN or infinity; such a file could not be"
            " loaded back"
        )
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C")


def _describe(obj: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and the arrays to write for a model or a state dict."""
    if isinstance(obj, nn.Module):
        known = MODELS.get(type(obj).__name__)
        if known is None or known[0] is not type(obj):
            raise TypeError(
                f"save: cannot rebuild a {type(obj).__name__} from a file; known"
                f" models are {sorted(MODELS)}. Save model.state_dict() instead and"
                " load it with model.load_state_dict(load(path))"
            )
        header: dict[str, Any] = {
            "kind": "model",
            "class": type(obj).__name__,
            "config": MODELS[type(obj).__name__][1](obj),
        }
        state: Mapping[str, Any] = dict(obj.named_parameters())
    elif isinstance(obj, Mapping):
        header = {"kind": "state_dict"}
        state = obj
    else:
        raise TypeError(
            "save: expected an nn.Module or a state dict (a mapping of names to"
            f" arrays), got {type(obj).__name__}"
        )

    arrays = {key: _check_array(key, value, "save") for key, value in state.items()}
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **header,
        "arrays": {
            key: {"shape": list(array.shape), "dtype": array.dtype.name}
            for key, array in arrays.items()
        },
    }
    return header, arrays


def _write_entry(archive: zipfile.ZipFile, key: str, array: np.ndarray) -> None:
    """Write one ``key.npy`` entry."""
    with archive.open(key + ".npy", "w", force_zip64=True) as entry:
        np.lib.format.write_array(entry, array, allow_pickle=False)


def _write_archive(file: Any, header: dict[str, Any], arrays: dict[str, Any]) -> None:
    """Write the header entry, then every array, to the open binary ``file``."""
    encoded = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        _write_entry(archive, HEADER_KEY, encoded)
        for key, array in arrays.items():
            _write_entry(archive, key, array)


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        logger.debug("save: could not fsync directory %s: %s", directory, error)
    finally:
        os.close(descriptor)


def _path_error(error: OSError, path: str) -> OSError:
    """The same kind of OSError, with a message naming the target path."""
    return OSError(error.errno, f"save: cannot write {path!r}: {error.strerror}", path)


def _check_replaceable(path: str) -> None:
    """Refuse to replace what writing to ``path`` in place would not overwrite.

    os.replace needs only a writable directory: it would replace a read-only
    file, or a device such as /dev/null, with the new archive.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # no file there yet, or none reachable: os.open will say which
    if stat.S_ISDIR(mode):
        return  # os.replace refuses a directory itself, with IsADirectoryError
    if not stat.S_ISREG(mode):
        refused = OSError(errno.EEXIST, "it is not a regular file", path)
        raise _path_error(refused, path)
    # NOTE: the mode bits as well as os.access, which grants root everything.
    if not mode & 0o222 or not os.access(path, os.W_OK):
        denied = PermissionError(errno.EACCES, "the file is read-only", path)
        raise _path_error(denied, path)


def save(obj: nn.Module | Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a model or a state dict to ``path`` as a validated ``.npz`` file.

    The write is atomic: the data goes to a temporary file in the same directory,
    is flushed and fsynced, and then replaces ``path`` in one ``os.replace``. If
    anything fails, the temporary file is removed and a file previously at
    ``path`` is left exactly as it was.

    Parameters
    ----------
    obj : nn.LogisticRegression, nn.MLP, nn.Linear, or mapping of str to array
        A model (rebuilt by :func:`load` from the recorded constructor arguments)
        or a plain state dict such as ``model.state_dict()``. Arrays must be
        finite float32 or float64; their dtypes are kept.
    path : str or os.PathLike
        The file to write, used as given (no ``.npz`` suffix is added).

    Raises
    ------
    TypeError
        If ``obj`` is neither a known model nor a mapping, or holds non-float
        arrays.
    ValueError
        If an array contains NaN or inf, or a key is not a valid name.
    OSError
        If the directory is missing or not writable, or ``path`` is a read-only
        file (PermissionError) or exists but is not a regular file, such as a
        device (FileExistsError); whatever is at ``path`` is left as it was, and
        the message names ``path``.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    header, arrays = _describe(obj)

    _check_replaceable(path)

    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp"
    )
    try:
        # NOTE: os.open with mode 0o666 lets the umask decide the permissions,
        # as for any new file; tempfile.mkstemp would force 0o600.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _path_error(error, path) from error

    try:
        with os.fdopen(descriptor, "wb") as file:
            _write_archive(file, header, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _path_error(error, path) from error
        raise
    _fsync_directory(directory)
    logger.debug("save: wrote %s (%d arrays)", path, len(arrays))


def _read_entry(
    archive: zipfile.ZipFile, key: str, budget: int, name: str
) -> np.ndarray:
    """Read entry ``key.npy`` after checking that it is at most ``budget`` bytes
    and holds a plain float or uint8 array; never unpickles."""
    info = archive.getinfo(key + ".npy")
    if info.file_size > budget:
        raise SerializationError(
            f"load: {name} entry {key!r} claims {info.file_size} bytes, more than"
            f" the {budget} its header allows"
        )
    with archive.open(info) as entry:
        data = entry.read(budget + 1)
    if len(data) > budget:
        raise SerializationError(f"load: {name} entry {key!r} is larger than declared")

    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    reader = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = reader(stream, max_header_size=MAX_NPY_HEADER_BYTES)
    if dtype.hasobject:
        raise SerializationError(
            f"load: {name} entry {key!r} contains an object array; refusing to unpickle"
        )
    if any(size < 0 for size in shape):
        raise SerializationError(f"load: {name} entry {key!r} has shape {shape}")
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - stream.tell() != expected:
        raise SerializationError(
            f"load: {name} entry {key!r} (shape {shape}, dtype {dtype}) should hold"
            f" {expected} bytes of data, found {len(data) - stream.tell()}; the file"
            " is truncated or corrupt"
        )
    stream.seek(0)
    array = np.lib.format.read_array(
        stream, allow_pickle=False, max_header_size=MAX_NPY_HEADER_BYTES
    )
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C")


def _parse_header(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    """Read and check the JSON header entry."""
    if HEADER_KEY + ".npy" not in archive.namelist():
        raise SerializationError(
            f"load: {name} has no {HEADER_KEY!r} entry; it was not written by"
            " tinygrad_lr.save"
        )
    raw = _read_entry(archive, HEADER_KEY, MAX_HEADER_BYTES, name)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(f"load: {name} has a malformed {HEADER_KEY!r} entry")
    header = json.loads(raw.tobytes().decode("utf-8"))

    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise SerializationError(f"load: {name} is not a tinygrad_lr file")
    version = header.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise SerializationError(
            f"load: {name} has format version {version!r}; this version of"
            f" tinygrad_lr reads version {FORMAT_VERSION}"
        )
    if header.get("kind") not in ("model", "state_dict"):
        raise SerializationError(
            f"load: {name} has kind {header.get('kind')!r}; expected 'model' or"
            " 'state_dict'"
        )
    arrays = header.get("arrays")
    if not isinstance(arrays, dict):
        raise SerializationError(f"load: {name} header has no 'arrays' table")
    for key, spec in arrays.items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        valid_shape = isinstance(shape, list) and all(
            isinstance(size, int) and not isinstance(size, bool) and size >= 0
            for size in shape
        )
        dtype = spec.get("dtype") if isinstance(spec, dict) else None
        if not valid_shape or not isinstance(dtype, str) or dtype not in FLOAT_DTYPES:
            raise SerializationError(
                f"load: {name} header entry {key!r} must give a shape of"
                f" non-negative ints and a dtype in {sorted(FLOAT_DTYPES)}, got"
                f" {spec!r}"
            )
    return header


def _check_loaded(
    key: str, array: np.ndarray, spec: dict[str, Any], name: str
) -> np.ndarray:
    """Check one array against its header entry: dtype, shape, finiteness."""
    if array.dtype.kind != "f" or array.dtype.name not in FLOAT_DTYPES:
        raise SerializationError(
            f"load: {name} entry {key!r} has dtype {array.dtype}; expected"
            f" {spec['dtype']} (only float32 and float64 are allowed)"
        )
    if array.dtype.name != spec["dtype"] or list(array.shape) != spec["shape"]:
        raise SerializationError(
            f"load: {name} entry {key!r} has shape {array.shape} and dtype"
            f" {array.dtype}; the header says shape {tuple(spec['shape'])} and dtype"
            f" {spec['dtype']}"
        )
    if not np.isfinite(array).all():
        raise SerializationError(f"load: {name} entry {key!r} contains NaN or inf")
    return array


def _rebuild(
    header: dict[str, Any], arrays: dict[str, np.ndarray], name: str
) -> nn.Module:
    """Construct the recorded model class and give it the loaded parameters.

    The recorded arguments are checked against the loaded arrays before the model
    is built, so a small file cannot make the model allocate more than it holds.
    """
    class_name = header.get("class")
    if not isinstance(class_name, str) or class_name not in MODELS:
        raise SerializationError(
            f"load: {name} holds a model of unknown class {class_name!r}; known"
            f" classes are {sorted(MODELS)}"
        )
    config = header.get("config")
    if not isinstance(config, dict):
        raise SerializationError(f"load: {name} header has no 'config' table")
    model_class, _, parameter_shapes = MODELS[class_name]
    try:
        # The constructor's own signature judges the argument names, so that its
        # errors name the model, not the shape helper.
        inspect.signature(model_class).bind(**config, rng=0)
        expected = parameter_shapes(**config)
    except (TypeError, ValueError) as error:
        raise _config_error(name, config, class_name, error) from error

    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise SerializationError(
            f"load: {name} does not match {class_name}({config}): missing keys"
            f" {missing}, unexpected keys {extra}"
        )
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise SerializationError(
                f"load: {name} entry {key!r} has shape {arrays[key].shape}; a"
                f" {class_name} with {config} needs {shape}"
            )

    try:
        model = model_class(**config, rng=0)
    except (TypeError, ValueError) as error:
        raise _config_error(name, config, class_name, error) from error
    parameters = dict(model.named_parameters())
    assert {key: p.shape for key, p in parameters.items()} == expected, class_name
    for key, parameter in parameters.items():
        parameter.data = arrays[key]
    return model


def _config_error(
    name: str, config: dict[str, Any], class_name: str, error: Exception
) -> SerializationError:
    """The error for recorded constructor arguments that do not build a model."""
    return SerializationError(
        f"load: {name} records arguments {config!r} that do not build a"
        f" {class_name}: {error}"
    )


def load(path: str | os.PathLike[str]) -> nn.Module | dict[str, np.ndarray]:
    """Read a file written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    nn.Module or dict of str to ndarray
        A freshly built model of the saved class, carrying the saved parameters
        with their saved dtypes, when a model was saved; the state dict when a
        state dict was saved.

    Raises
    ------
    SerializationError
        If the file is truncated or corrupt, holds object (pickled) arrays,
        arrays of the wrong shape or dtype, NaN or inf, missing or extra keys, an
        unknown format version, or an unknown model class. The message names the
        file.
    FileNotFoundError, IsADirectoryError, PermissionError
        If the file cannot be opened at all.
    """
    path = os.fspath(path)
    name = repr(os.fsdecode(path))
    with open(path, "rb") as file:
        try:
            return _load(file, name)
        except SerializationError:
            raise
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            OSError,
            ValueError,
            KeyError,
            NotImplementedError,
            RuntimeError,
            OverflowError,
        ) as error:
            raise SerializationError(
                f"load: {name} is truncated or corrupt ({type(error).__name__}:"
                f" {error})"
            ) from error


def _load(file: Any, name: str) -> nn.Module | dict[str, np.ndarray]:
    file_size = os.fstat(file.fileno()).st_size
    with zipfile.ZipFile(file) as archive:
        header = _parse_header(archive, name)
        specs: dict[str, dict[str, Any]] = header["arrays"]

        entries = {
            entry.removesuffix(".npy")
            for entry in archive.namelist()
            if entry != HEADER_KEY + ".npy"
        }
        missing = sorted(set(specs) - entries)
        extra = sorted(entries - set(specs))
        if missing or extra:
            raise SerializationError(
                f"load: {name} does not match its header: missing entries {missing},"
                f" unexpected entries {extra}"
            )

        arrays = {}
        for key, spec in specs.items():
            nbytes = math.prod(spec["shape"]) * FLOAT_DTYPES[spec["dtype"]].itemsize
            if nbytes > file_size:
                raise SerializationError(
                    f"load: {name} header gives {key!r} shape {tuple(spec['shape'])},"
                    f" {nbytes} bytes, but the file has only {file_size}"
                )
            array = _read_entry(archive, key, nbytes + MAX_NPY_HEADER_BYTES + 16, name)
            arrays[key] = _check_loaded(key, array, spec, name)

    if header["kind"] == "state_dict":
        return arrays
    return _rebuild(header, arrays, name)
