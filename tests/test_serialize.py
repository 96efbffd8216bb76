"""save and load: round trips, atomic writes, and every way a file can be bad."""

import io
import json
import os
import pathlib
import pickle
import stat
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_lr import SerializationError, load, nn, no_grad, save, serialize

# ---------------------------------------------------------------------------
# helpers


def _bytes_of(model: nn.Module) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Every parameter as (dtype, shape, raw bytes): equal means bitwise equal."""
    return {
        key: (value.dtype.str, value.shape, value.tobytes())
        for key, value in model.state_dict().items()
    }


def _header(**changes):
    """A valid header for nn.LogisticRegression(2), with ``changes`` applied."""
    header = {
        "format": "tinygrad_lr",
        "format_version": 1,
        "kind": "model",
        "class": "LogisticRegression",
        "config": {"n_features": 2},
        "arrays": {
            "weight": {"shape": [2], "dtype": "float64"},
            "bias": {"shape": [], "dtype": "float64"},
        },
    }
    header.update(changes)
    return header


def _craft(path, header, arrays):
    """Write an .npz by hand with ``np.savez`` (which pickles object arrays)."""
    encoded = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, __header__=encoded, **arrays)


GOOD_ARRAYS = {"weight": np.array([0.5, -1.0]), "bias": np.array(0.25)}


class _Sentinel:
    """Unpickling this object creates the file at ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.write_text, (pathlib.Path(self.path), "unpickled"))


@pytest.fixture
def saved(tmp_path):
    """A small saved MLP, its path and its model."""
    model = nn.MLP([2, 3, 1], rng=0)
    path = tmp_path / "model.npz"
    save(model, path)
    return path, model


# ---------------------------------------------------------------------------
# round trips

model_specs = st.one_of(
    st.tuples(st.just("lr"), st.integers(1, 6)),
    st.tuples(
        st.just("mlp"),
        st.lists(st.integers(1, 6), min_size=2, max_size=4),
        st.sampled_from(["tanh", "relu"]),
    ),
)


@given(
    spec=model_specs,
    dtype=st.sampled_from([np.float32, np.float64]),
    as_path=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_keeps_class_arrays_dtypes_and_predictions(
    spec, dtype, as_path, seed
):
    if spec[0] == "lr":
        model = nn.LogisticRegression(spec[1], rng=seed)
    else:
        model = nn.MLP(spec[1], spec[2], rng=seed)
    model.to(dtype)
    n_features = model.n_features
    X = np.random.default_rng(seed).normal(size=(7, n_features)).astype(dtype)

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.npz")
        save(model, pathlib.Path(path) if as_path else path)
        restored = load(pathlib.Path(path) if not as_path else path)

    assert type(restored) is type(model)
    assert repr(restored) == repr(model)
    assert _bytes_of(restored) == _bytes_of(model)
    with no_grad():
        predicted, expected = restored(X).data, model(X).data
    # NOTE: the parameters are bitwise equal (above), but OpenBLAS may round a
    # product differently for a differently aligned copy of the same array, so the
    # predictions are compared to a few units in the last place.
    assert predicted.dtype == expected.dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(predicted, expected, rtol=8 * eps, atol=8 * eps)


def test_state_dict_round_trip_returns_a_dict_of_identical_arrays(tmp_path):
    state = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b.c": np.array(1.5),
    }
    save(state, tmp_path / "state.npz")

    loaded = load(tmp_path / "state.npz")

    assert isinstance(loaded, dict)
    assert list(loaded) == ["a", "b.c"]
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype
        assert loaded[key].shape == value.shape
        assert loaded[key].tobytes() == value.tobytes()


def test_a_loaded_state_dict_loads_into_a_model(tmp_path):
    model = nn.MLP([2, 4, 1], rng=1)
    save(model.state_dict(), tmp_path / "state.npz")
    other = nn.MLP([2, 4, 1], rng=2)

    other.load_state_dict(load(tmp_path / "state.npz"))

    assert _bytes_of(other) == _bytes_of(model)


def test_linear_layers_round_trip_with_and_without_bias(tmp_path):
    for bias in (True, False):
        layer = nn.Linear(3, 2, bias=bias, rng=0)
        save(layer, tmp_path / "layer.npz")
        restored = load(tmp_path / "layer.npz")
        assert (restored.bias is None) is (not bias)
        assert _bytes_of(restored) == _bytes_of(layer)


def test_loaded_model_is_a_new_object_with_fresh_gradients(saved):
    path, model = saved
    model.parameters()[0].grad = np.ones((2, 3))

    restored = load(path)

    assert restored is not model
    assert all(p.grad is None for p in restored.parameters())
    restored.parameters()[0].data[0, 0] = 99.0
    assert model.parameters()[0].data[0, 0] != 99.0


def test_saved_file_is_a_plain_npz_with_a_json_header(saved):
    path, model = saved

    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["__header__"].tobytes())
        weight = archive["layers.0.weight"]

    assert header["format_version"] == 1
    assert header["class"] == "MLP"
    assert header["config"] == {"layer_sizes": [2, 3, 1], "activation": "tanh"}
    assert header["arrays"]["layers.0.weight"] == {"shape": [2, 3], "dtype": "float64"}
    np.testing.assert_array_equal(weight, model.layers[0].weight.data)


def test_saved_file_permissions_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        save(nn.LogisticRegression(2, rng=0), tmp_path / "model.npz")
    finally:
        os.umask(previous)

    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------
# what save refuses


@given(
    obj=st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(),
        st.lists(st.floats(allow_nan=False)),
        st.tuples(st.integers()),
    )
)
def test_save_of_something_that_is_not_a_model_raises_type_error(obj):
    with tempfile.TemporaryDirectory() as directory:
        with pytest.raises(TypeError, match=r"expected an nn\.Module or a state dict"):
            save(obj, os.path.join(directory, "x.npz"))
        assert os.listdir(directory) == []


def test_save_of_a_model_it_cannot_rebuild_suggests_the_state_dict(tmp_path):
    class Custom(nn.MLP):
        pass

    for model in (nn.Sequential(nn.Linear(2, 1, rng=0)), Custom([2, 1], rng=0)):
        with pytest.raises(TypeError, match=r"Save model\.state_dict\(\) instead"):
            save(model, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ({"w": np.arange(3)}, TypeError, "'w' has dtype int64; only float32"),
        ({"w": np.ones(2, dtype=complex)}, TypeError, "dtype complex128"),
        ({"w": np.array([1.0, np.nan])}, ValueError, "'w' contains NaN or infinity"),
        ({"w": np.array([np.inf])}, ValueError, "'w' contains NaN or infinity"),
        ({"__header__": np.ones(1)}, ValueError, "not starting with '__'"),
        ({"": np.ones(1)}, ValueError, "non-empty strings"),
        ({3: np.ones(1)}, ValueError, "got 3"),
    ],
)
def test_save_rejects_state_dicts_it_could_not_load_back(tmp_path, state, error, match):
    with pytest.raises(error, match=match):
        save(state, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_into_a_missing_directory_names_the_path(tmp_path):
    target = tmp_path / "missing" / "model.npz"

    with pytest.raises(FileNotFoundError, match=r"save: cannot write .*missing"):
        save(nn.LogisticRegression(2, rng=0), target)


def test_save_below_a_regular_file_names_the_path(tmp_path):
    (tmp_path / "file").write_text("x")

    with pytest.raises(NotADirectoryError, match=r"cannot write .*file.model\.npz"):
        save(nn.LogisticRegression(2, rng=0), tmp_path / "file" / "model.npz")


def test_save_into_a_read_only_directory_names_the_path_and_keeps_the_file(
    saved, monkeypatch
):
    # NOTE: the suite may run as root, which ignores chmod; so the refusal a
    # read-only directory gives is simulated at os.open, where it happens.
    path, model = saved
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", args[0])

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match=r"save: cannot write .*model\.npz"):
        save(nn.MLP([2, 3, 1], rng=5), path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert _bytes_of(load(path)) == _bytes_of(model)


def test_save_over_a_read_only_file_names_the_path_and_keeps_the_file(saved):
    path, _ = saved
    before = path.read_bytes()
    path.chmod(0o444)

    with pytest.raises(PermissionError, match=r"save: cannot write .*model\.npz"):
        save(nn.MLP([2, 3, 1], rng=5), path)

    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_save_over_a_fifo_refuses_to_replace_it(tmp_path):
    path = tmp_path / "model.npz"
    os.mkfifo(path)

    with pytest.raises(FileExistsError, match=r"cannot write .*not a regular file"):
        save(nn.LogisticRegression(2, rng=0), path)

    assert stat.S_ISFIFO(path.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_save_over_a_directory_fails_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "model.npz").mkdir()

    with pytest.raises(IsADirectoryError, match=r"cannot write .*model\.npz"):
        save(nn.LogisticRegression(2, rng=0), tmp_path / "model.npz")

    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


# ---------------------------------------------------------------------------
# atomic writes: a crash at any step leaves the previous file intact

N_ENTRIES = 5  # the header and the four parameters of MLP([2, 3, 1])


@pytest.mark.parametrize("failing_entry", range(N_ENTRIES))
@pytest.mark.parametrize("half_written", [False, True])
def test_a_crash_while_writing_keeps_the_previous_file_and_no_temporary(
    saved, monkeypatch, failing_entry, half_written
):
    path, model = saved
    before = path.read_bytes()
    real_write_entry = serialize._write_entry
    calls = []

    def crashing_write_entry(archive, key, array):
        calls.append(key)
        if len(calls) - 1 == failing_entry:
            if half_written:
                with archive.open(key + ".npy", "w") as entry:
                    entry.write(b"\x93NUMPY partial")
            raise RuntimeError("disk on fire")
        real_write_entry(archive, key, array)

    monkeypatch.setattr(serialize, "_write_entry", crashing_write_entry)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save(nn.MLP([2, 3, 1], rng=7), path)

    assert len(calls) == failing_entry + 1
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]
    assert path.read_bytes() == before
    assert _bytes_of(load(path)) == _bytes_of(model)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failing_fsync_or_replace_keeps_the_previous_file(saved, monkeypatch, step):
    path, _ = saved
    before = path.read_bytes()

    def fail(*args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, step, fail)
    with pytest.raises(OSError, match=r"save: cannot write .*Input/output error"):
        save(nn.MLP([2, 3, 1], rng=7), path)
    monkeypatch.undo()

    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]
    assert path.read_bytes() == before


def test_an_interrupt_while_writing_removes_the_temporary_file(saved, monkeypatch):
    path, _ = saved

    def interrupt(archive, key, array):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialize, "_write_entry", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save(nn.MLP([2, 3, 1], rng=7), path)

    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    def crash(archive, key, array):
        raise RuntimeError("crash")

    monkeypatch.setattr(serialize, "_write_entry", crash)
    with pytest.raises(RuntimeError, match="crash"):
        save(nn.LogisticRegression(2, rng=0), tmp_path / "model.npz")

    assert list(tmp_path.iterdir()) == []


def test_save_fsyncs_the_file_and_then_its_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    save(nn.LogisticRegression(2, rng=0), tmp_path / "model.npz")

    assert synced == [False, True]


CRASHING_SAVE = """
import os, sys
from tinygrad_lr import nn, serialize

real_write_entry = serialize._write_entry
calls = []

def write_then_die(archive, key, array):
    calls.append(key)
    if len(calls) == 3:
        archive.fp.flush()
        os._exit(3)  # no cleanup, no finally blocks: a hard crash
    real_write_entry(archive, key, array)

serialize._write_entry = write_then_die
serialize.save(nn.MLP([2, 3, 1], rng=7), sys.argv[1])
"""


def test_a_process_killed_mid_save_leaves_the_previous_file_loadable(saved):
    path, model = saved
    before = path.read_bytes()

    result = subprocess.run(
        [sys.executable, "-c", CRASHING_SAVE, str(path)], check=False, timeout=60
    )

    assert result.returncode == 3
    assert path.read_bytes() == before
    assert _bytes_of(load(path)) == _bytes_of(model)
    # A hard crash cannot clean up: what is left is one hidden temporary file.
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".model.npz.")
    assert leftovers[0].endswith(".tmp")


def test_a_successful_save_replaces_the_previous_file(saved):
    path, _ = saved
    newer = nn.MLP([2, 3, 1], rng=99)

    save(newer, path)

    assert _bytes_of(load(path)) == _bytes_of(newer)
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]


# ---------------------------------------------------------------------------
# truncated and corrupt files


def test_every_truncation_raises_serialization_error_naming_the_file(tmp_path):
    model = nn.LogisticRegression(2, rng=0)
    save(model, tmp_path / "model.npz")
    data = (tmp_path / "model.npz").read_bytes()
    target = tmp_path / "cut.npz"

    offsets = range(len(data))
    for offset in offsets:
        target.write_bytes(data[:offset])
        with pytest.raises(
            SerializationError, match=r"'.*cut\.npz' is truncated"
        ) as info:
            load(target)
        assert info.value.__cause__ is not None, offset

    assert len(offsets) > 900  # every byte of a ~1 kB file


def test_every_flipped_byte_gives_the_same_model_or_serialization_error(saved):
    # NOTE: some zip fields (timestamps, attributes) are not checked by anyone,
    # so a flip there may load; then the parameters must be exactly the originals.
    path, model = saved
    data = path.read_bytes()
    target = path.parent / "flipped.npz"
    loaded = 0

    for offset in range(len(data)):
        corrupt = bytearray(data)
        corrupt[offset] ^= 0xFF
        target.write_bytes(bytes(corrupt))
        try:
            restored = load(target)
        except SerializationError as error:
            assert "flipped.npz" in str(error)
        else:
            loaded += 1
            assert _bytes_of(restored) == _bytes_of(model), offset

    assert loaded < len(data) // 2


@pytest.mark.parametrize(
    "content", [b"", b"PK", b"not a zip at all", np.arange(3).tobytes()]
)
def test_files_that_are_not_archives_raise_serialization_error(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)

    with pytest.raises(SerializationError, match=r"model\.npz' is truncated or"):
        load(tmp_path / "model.npz")


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz"):
        load(tmp_path / "nothing.npz")


# ---------------------------------------------------------------------------
# pickles are never run


def test_the_sentinel_payload_really_writes_its_file_when_unpickled(tmp_path):
    # Shows that the payload used below is live, so its absence there means
    # load did not unpickle it.
    sentinel = tmp_path / "sentinel"

    pickle.loads(pickle.dumps(_Sentinel(sentinel)))

    assert sentinel.read_text() == "unpickled"


def test_a_pickle_file_is_refused_without_running_it(tmp_path):
    sentinel = tmp_path / "sentinel"
    (tmp_path / "model.npz").write_bytes(pickle.dumps(_Sentinel(sentinel)))

    with pytest.raises(SerializationError, match="truncated or corrupt"):
        load(tmp_path / "model.npz")

    assert not sentinel.exists()


def test_an_object_array_entry_is_refused_without_unpickling(tmp_path):
    sentinel = tmp_path / "sentinel"
    arrays = dict(GOOD_ARRAYS, weight=np.array([_Sentinel(sentinel)], dtype=object))
    _craft(tmp_path / "model.npz", _header(), arrays)

    with pytest.raises(
        SerializationError, match="'weight' contains an object array; refusing"
    ):
        load(tmp_path / "model.npz")

    assert not sentinel.exists()


def test_an_object_array_header_is_refused_without_unpickling(tmp_path):
    sentinel = tmp_path / "sentinel"
    with open(tmp_path / "model.npz", "wb") as file:
        np.savez(file, __header__=np.array([_Sentinel(sentinel)], dtype=object))

    with pytest.raises(SerializationError, match="'__header__' contains an object"):
        load(tmp_path / "model.npz")

    assert not sentinel.exists()


# ---------------------------------------------------------------------------
# schema validation


@pytest.mark.parametrize(
    ("header", "arrays", "match"),
    [
        (_header(), {"weight": GOOD_ARRAYS["weight"]}, r"missing entries \['bias'\]"),
        (
            _header(),
            dict(GOOD_ARRAYS, extra=np.ones(1)),
            r"unexpected entries \['extra'\]",
        ),
        (
            _header(
                arrays={
                    "weight": {"shape": [2], "dtype": "float64"},
                    "bias": {"shape": [], "dtype": "float64"},
                    "extra": {"shape": [1], "dtype": "float64"},
                }
            ),
            dict(GOOD_ARRAYS, extra=np.ones(1)),
            r"unexpected keys \['extra'\]",
        ),
        (
            _header(arrays={"weight": {"shape": [2], "dtype": "float64"}}),
            {"weight": GOOD_ARRAYS["weight"]},
            r"missing keys \['bias'\]",
        ),
        (
            _header(
                arrays={
                    "weight": {"shape": [3], "dtype": "float64"},
                    "bias": {"shape": [], "dtype": "float64"},
                }
            ),
            dict(GOOD_ARRAYS, weight=np.ones(3)),
            r"'weight' has shape \(3,\); a LogisticRegression .* needs \(2,\)",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, weight=np.ones((2, 1))),
            r"'weight' has shape \(2, 1\) .* header says shape \(2,\)",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, weight=np.ones(2, dtype=np.float32)),
            "'weight' has shape .* dtype float32; the header says .* float64",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, weight=np.ones(2, dtype=complex)),
            "'weight' has dtype complex128; expected float64",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, weight=np.array([1, 2])),
            "'weight' has dtype int64; expected float64",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, weight=np.array([1.0, np.nan])),
            "'weight' contains NaN or inf",
        ),
        (
            _header(),
            dict(GOOD_ARRAYS, bias=np.array(-np.inf)),
            "'bias' contains NaN or inf",
        ),
        (
            _header(
                arrays={
                    "weight": {"shape": [2], "dtype": "int64"},
                    "bias": {"shape": [], "dtype": "float64"},
                }
            ),
            GOOD_ARRAYS,
            "header entry 'weight' must give .* a dtype in",
        ),
        (
            _header(
                arrays={
                    "weight": {"shape": [-2], "dtype": "float64"},
                    "bias": {"shape": [], "dtype": "float64"},
                }
            ),
            GOOD_ARRAYS,
            "header entry 'weight' must give a shape of non-negative ints",
        ),
        (
            _header(
                arrays={
                    "weight": {"shape": [2], "dtype": ["float64"]},
                    "bias": {"shape": [], "dtype": "float64"},
                }
            ),
            GOOD_ARRAYS,
            "header entry 'weight' must give .* a dtype in",
        ),
        (_header(format_version=2), GOOD_ARRAYS, "format version 2; this version"),
        (_header(format_version="1"), GOOD_ARRAYS, "format version '1'"),
        (_header(format="other"), GOOD_ARRAYS, "is not a tinygrad_lr file"),
        (_header(kind="optimizer"), GOOD_ARRAYS, "kind 'optimizer'"),
        (_header(**{"class": "Perceptron"}), GOOD_ARRAYS, "unknown class 'Perceptron'"),
        (_header(**{"class": ["MLP"]}), GOOD_ARRAYS, r"unknown class \['MLP'\]"),
        (
            _header(config={"n_features": 0}),
            GOOD_ARRAYS,
            "do not build a LogisticRegression: .*n_features must be a positive",
        ),
        (
            _header(config={"n_features": 2, "bias": False}),
            GOOD_ARRAYS,
            "do not build a LogisticRegression: got an unexpected keyword argument"
            " 'bias'",
        ),
        (_header(arrays=[]), GOOD_ARRAYS, "header has no 'arrays' table"),
    ],
)
def test_invalid_contents_raise_serialization_error_naming_the_file_and_key(
    tmp_path, header, arrays, match
):
    _craft(tmp_path / "bad.npz", header, arrays)

    with pytest.raises(SerializationError, match=match) as info:
        load(tmp_path / "bad.npz")

    assert "bad.npz" in str(info.value)


def test_a_header_that_is_not_json_raises_serialization_error(tmp_path):
    with open(tmp_path / "bad.npz", "wb") as file:
        np.savez(file, __header__=np.frombuffer(b"{not json", dtype=np.uint8))

    with pytest.raises(SerializationError, match="truncated or corrupt") as info:
        load(tmp_path / "bad.npz")

    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_an_archive_without_a_header_is_refused(tmp_path):
    with open(tmp_path / "plain.npz", "wb") as file:
        np.savez(file, **GOOD_ARRAYS)

    with pytest.raises(SerializationError, match="has no '__header__' entry"):
        load(tmp_path / "plain.npz")


# ---------------------------------------------------------------------------
# size claims are checked before anything is allocated


def _npy_entry(header_text: str, version: int = 1, length: int | None = None) -> bytes:
    """The start of a .npy entry with a hand-written header and length field."""
    body = header_text.encode("latin1")
    if version == 1:
        prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", length or len(body))
    else:
        prefix = b"\x93NUMPY\x02\x00" + struct.pack("<I", length or len(body))
    return prefix + body


def _craft_raw(path, weight_entry: bytes):
    """A valid header and bias, and ``weight_entry`` as the raw weight.npy."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, GOOD_ARRAYS["bias"])
    encoded = io.BytesIO()
    header_array = np.frombuffer(json.dumps(_header()).encode(), dtype=np.uint8)
    np.lib.format.write_array(encoded, header_array)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__header__.npy", encoded.getvalue())
        archive.writestr("weight.npy", weight_entry)
        archive.writestr("bias.npy", buffer.getvalue())


def _peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_huge_npy_header_length_is_rejected_before_reading(tmp_path):
    _craft_raw(tmp_path / "bad.npz", _npy_entry("{", version=2, length=0xFFFF_FFF0))

    def attempt():
        with pytest.raises(SerializationError, match=r"bad\.npz' is truncated"):
            load(tmp_path / "bad.npz")

    assert _peak_bytes(attempt) < 10_000_000


def test_a_huge_array_shape_in_the_npy_header_is_rejected_before_allocating(
    tmp_path,
):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (10**15,), }"
    _craft_raw(tmp_path / "bad.npz", _npy_entry(header) + b"\0" * 16)

    def attempt():
        with pytest.raises(SerializationError, match=r"bad\.npz' is truncated"):
            load(tmp_path / "bad.npz")

    assert _peak_bytes(attempt) < 10_000_000


def test_a_negative_shape_in_the_npy_header_is_rejected(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }"
    _craft_raw(tmp_path / "bad.npz", _npy_entry(header) + b"\0" * 16)

    with pytest.raises(SerializationError, match=r"bad\.npz"):
        load(tmp_path / "bad.npz")


def test_a_huge_shape_in_the_json_header_is_rejected_before_allocating(tmp_path):
    header = _header(
        arrays={
            "weight": {"shape": [10**9, 10**6], "dtype": "float64"},
            "bias": {"shape": [], "dtype": "float64"},
        }
    )
    _craft(tmp_path / "bad.npz", header, GOOD_ARRAYS)

    def attempt():
        with pytest.raises(SerializationError, match="but the file has only"):
            load(tmp_path / "bad.npz")

    assert _peak_bytes(attempt) < 10_000_000


def test_an_entry_size_larger_than_allowed_is_rejected_before_reading(tmp_path):
    # Patch the header entry's uncompressed size in the central directory.
    model = nn.LogisticRegression(2, rng=0)
    save(model, tmp_path / "model.npz")
    data = bytearray((tmp_path / "model.npz").read_bytes())
    record = data.index(b"PK\x01\x02")  # the first central directory record
    assert data[record + 46 : record + 46 + 14] == b"__header__.npy"
    size_field = record + 24
    if data[size_field : size_field + 4] == b"\xff\xff\xff\xff":  # a zip64 entry
        extra = data.index(b"\x01\x00", record + 46 + 14)
        size_field = extra + 4
        data[size_field : size_field + 8] = struct.pack("<Q", 2**40)
    else:
        data[size_field : size_field + 4] = struct.pack("<I", 0xFFFF_FFF0)
    (tmp_path / "model.npz").write_bytes(bytes(data))

    def attempt():
        with pytest.raises(SerializationError, match="'__header__' claims"):
            load(tmp_path / "model.npz")

    assert _peak_bytes(attempt) < 10_000_000


@pytest.mark.parametrize(
    ("layer_sizes", "match"),
    [
        (
            [2, 2000, 2000, 1],
            r"missing keys \['layers\.4\.bias', 'layers\.4\.weight'\]",
        ),
        (
            [2000, 2000, 1],
            r"'layers\.0\.weight' has shape \(2, 3\); .* needs \(2000, 2000\)",
        ),
    ],
)
def test_a_config_larger_than_the_stored_arrays_is_rejected_before_building(
    tmp_path, layer_sizes, match
):
    # The arrays of an MLP([2, 3, 1]) under a config whose weights need 32 MB.
    state = nn.MLP([2, 3, 1], rng=0).state_dict()
    header = _header(
        **{"class": "MLP"},
        config={"layer_sizes": layer_sizes, "activation": "tanh"},
        arrays={
            key: {"shape": list(value.shape), "dtype": "float64"}
            for key, value in state.items()
        },
    )
    _craft(tmp_path / "bad.npz", header, state)

    def attempt():
        with pytest.raises(SerializationError, match=match):
            load(tmp_path / "bad.npz")

    assert _peak_bytes(attempt) < 10_000_000
