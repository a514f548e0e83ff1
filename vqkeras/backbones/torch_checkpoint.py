"""Read `torch.save` checkpoints (legacy and zip format) without torch and without running their code.

Two container formats exist:

- **zip** (torch ≥ 1.6, the default): a zip archive with one top folder (`archive/` in recent torch, the file's
  stem in older ones) holding `data.pkl`, the pickled object, and every storage as a raw little-endian file
  `data/<key>`. A tensor's storage is the persistent id `("storage", StorageType, key, location, numel)`.
- **legacy** (`_use_new_zipfile_serialization=False`): a sequence of pickles followed by raw tensor data:
  1. the magic number `0x1950a86a20f9469cfc6c`;
  2. the protocol version (`1001`);
  3. a small dict of system information (endianness, type sizes);
  4. the pickled object, whose persistent ids are `("storage", StorageType, key, location, numel, view_metadata)`;
  5. a pickled list of storage keys;
  6. for every key in that list: an int64 element count, then the raw little-endian data.

Unpickling arbitrary data can run arbitrary code, so this module never calls `pickle.load`. `RestrictedUnpickler`'s
`find_class` resolves only:
- the torch names a tensor needs (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`, the numeric
  `torch.*Storage` classes), mapped to local functions and inert dtype markers;
- `collections.OrderedDict`, `collections.defaultdict` (read as a plain dict) and `_codecs.encode` (how protocol 2
  stores bytes);
- an explicit allow-list of the non-tensor objects that training frameworks pickle beside the weights
  (`STUB_GLOBALS`: PyTorch Lightning callbacks and hyper-parameter dicts, `argparse.Namespace`, OmegaConf configs,
  NumPy scalars). Each is loaded as an inert `PickledObject` that keeps its arguments and state as plain data and
  has no behaviour.
Any other global (`os.system`, `builtins.eval`, …) raises `pickle.UnpicklingError` naming it, when the pickle
names it, before anything could call it.

Each tensor is a view `(storage, offset, size, stride)`; the element at index `(i_0, …, i_k)` is
`storage[offset + Σ_d i_d·stride_d]`. Views are materialised with these strides, so non-contiguous tensors come out
right.

Resource bounds: a file of a few hundred bytes must not make the reader allocate gigabytes or run for hours.
- Every storage's data is present in the file (a legacy storage's bytes follow the pickle; a zip member is at most as
  large as the file), so storages are bounded by the file's size.
- A tensor may not have more elements than its storage (a stride-0 view of one float cannot claim a billion
  elements), and all tensors together may materialise at most `4·file size + 64 MiB` bytes.
- Objects the pickle shares (its memo) are resolved once, so a chain of shared references costs linear, not
  exponential, time and memory; cycles are kept as cycles.
- `RecursionError` and `MemoryError` become a `ValueError` naming the file.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage class name -> numpy dtype (little-endian). bfloat16 is read as its raw 16 bits, then widened.
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}

# Non-tensor globals that checkpoints pickle beside the weights, loaded as inert `PickledObject`s.
STUB_GLOBALS = frozenset(
    f"{package}.{name}"
    for package in ("pytorch_lightning", "lightning.pytorch")
    for name in (
        "callbacks.model_checkpoint.ModelCheckpoint",
        "callbacks.early_stopping.EarlyStopping",
        "callbacks.lr_monitor.LearningRateMonitor",
        "callbacks.progress.tqdm_progress.TQDMProgressBar",
        "utilities.parsing.AttributeDict",
    )
) | {
    "lightning_fabric.utilities.data.AttributeDict",
    "argparse.Namespace",
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
    "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode",
    "omegaconf.nodes.FloatNode",
    "omegaconf.nodes.BooleanNode",
    "typing.Any",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "torch.torch_version.TorchVersion",
}

# Bytes that all tensors of one file may materialise together, beyond `_BUDGET_FACTOR × file size`.
_BUDGET_FACTOR = 4
_BUDGET_SLACK = 64 * 2**20


class PickledObject:
    """Inert stand-in for an allow-listed non-tensor object (see `STUB_GLOBALS`).

    It records what the pickle gave it and does nothing else: `args` (constructor arguments), `state` (what
    `__setstate__` received), `items` (dict-style entries) and `list_items` (list-style entries). The class
    attribute `global_name` is the pickled `module.name`.
    """

    global_name = "?"

    def __new__(cls, *args, **kwargs):
        del kwargs
        obj = super().__new__(cls)
        obj.args, obj.state, obj.items, obj.list_items = args, None, {}, []
        return obj

    def __init__(self, *args, **kwargs):
        del args, kwargs

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.list_items.append(value)

    def extend(self, values):
        self.list_items.extend(values)

    def __repr__(self):
        return f"<inert {self.global_name}>"


def _stub_class(global_name):
    return type(global_name.rsplit(".", 1)[-1], (PickledObject,), {"global_name": global_name})


class _StorageType:
    """Inert stand-in for a `torch.*Storage` class: only carries a dtype."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])
        self.bfloat16 = name == "BFloat16Storage"

    def __repr__(self):
        return f"<torch.{self.name} ({self.dtype})>"


class _Storage:
    """A storage referenced by the pickle; its data is filled in later."""

    def __init__(self, key, storage_type, numel):
        self.key = key
        self.dtype = storage_type.dtype
        self.bfloat16 = storage_type.bfloat16
        self.numel = numel
        self.data = None  # 1-D numpy array once read from the file.


class _StorageView:
    """A legacy storage view: `numel` elements of `base` from `offset`."""

    def __init__(self, base, offset, numel):
        self.base = base
        self.offset = offset
        self.numel = numel
        self.dtype = base.dtype


class _TensorRecord:
    """What `_rebuild_tensor_v2` describes: a strided view of a storage."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage = storage
        self.storage_offset = int(storage_offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """Local replacement for `torch._utils._rebuild_tensor_v2`."""
    del requires_grad, backward_hooks, metadata
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError(
            f"_rebuild_tensor_v2 expects a storage as its first argument. Received: {type(storage).__name__}"
        )
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)) or len(size) != len(stride):
        raise pickle.UnpicklingError(f"Tensor size and stride differ in length: size={size}, stride={stride}")
    return _TensorRecord(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """Local replacement for `torch._utils._rebuild_parameter(_with_state)`: a parameter is its tensor."""
    del requires_grad, backward_hooks, state
    if not isinstance(data, _TensorRecord):
        raise pickle.UnpicklingError(f"_rebuild_parameter expects a tensor. Received: {type(data).__name__}")
    return data


def _encode(text, encoding="latin1"):
    """Local replacement for `_codecs.encode`, which protocol-2 pickles use to store `bytes`."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only on a str with latin1. Received: {encoding!r}")
    return text.encode("latin1")


def _defaultdict(default_factory=None, *args):
    """Local replacement for `collections.defaultdict`: a plain dict (its factory is not kept)."""
    del default_factory, args
    return {}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a torch checkpoint needs.

    Allowed globals:
    - `collections.OrderedDict`, `collections.defaultdict` (as a plain dict), `_codecs.encode` (latin1 only);
    - `torch._utils._rebuild_tensor_v2` and `_rebuild_parameter` (local functions that return a record of the
      tensor's storage, offset, size and stride);
    - `torch.<Type>Storage` for the numeric storage types (inert markers that only carry a dtype);
    - the names in `STUB_GLOBALS`, as inert `PickledObject` classes.

    Everything else, e.g. `os.system` or `builtins.eval`, raises `pickle.UnpicklingError` naming it when the pickle
    names it, before it could be called. Persistent ids must be storage ids.

    Args:
        file: Binary file object positioned at the start of a pickle.
        storages: Optional dict `key → storage` shared with other unpicklers of the same file.
    """

    def __init__(self, file, storages=None):
        super().__init__(file)
        self.storages = {} if storages is None else storages
        self._stubs = {}

    def find_class(self, module, name):
        full_name = f"{module}.{name}"
        if full_name == "collections.OrderedDict":
            return collections.OrderedDict
        if full_name == "collections.defaultdict":
            return _defaultdict
        if full_name == "_codecs.encode":
            return _encode
        if full_name == "torch._utils._rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if full_name in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if full_name in STUB_GLOBALS:
            if full_name not in self._stubs:
                self._stubs[full_name] = _stub_class(full_name)
            return self._stubs[full_name]
        raise pickle.UnpicklingError(
            f"Refusing to load global '{full_name}': a weights file may name only tensor storages "
            "(torch.*Storage, torch._utils._rebuild_tensor_v2), collections.OrderedDict and the inert objects of "
            "vqkeras.backbones.torch_checkpoint.STUB_GLOBALS."
        )

    def persistent_load(self, pid):
        if (
            not isinstance(pid, tuple)
            or len(pid) not in (5, 6)
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
            or isinstance(pid[4], bool)
            or not isinstance(pid[4], int)
            or pid[4] < 0
        ):
            raise pickle.UnpicklingError(f"Unsupported persistent id in weights file: {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type, numel)
            self.storages[key] = storage
        elif storage.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"Storage {key!r} is named with two dtypes: {storage.dtype}, "
                                         f"{storage_type.dtype}")
        if view_metadata is not None:
            try:
                _view_key, offset, view_size = view_metadata
                offset, view_size = int(offset), int(view_size)
            except (TypeError, ValueError) as e:
                raise pickle.UnpicklingError(f"Malformed storage view in weights file: {view_metadata!r}") from e
            return _StorageView(storage, offset, view_size)
        return storage


def _restricted_load(file, storages=None):
    unpickler = RestrictedUnpickler(file, storages)
    return unpickler.load(), unpickler


class _Materializer:
    """Turns tensor records into arrays inside dicts, lists, tuples and stubs, each shared object once.

    `budget` is the number of bytes all tensors may materialise together.
    """

    def __init__(self, budget):
        self.budget = budget
        self.memo = {}

    def tensor(self, record):
        storage = record.storage
        offset = record.storage_offset
        if isinstance(storage, _StorageView):
            offset += storage.offset
            numel = storage.numel
            storage = storage.base
        else:
            numel = storage.numel
        data = storage.data
        size, stride = record.size, record.stride
        if any(s < 0 for s in stride) or any(s < 0 for s in size):
            raise ValueError(f"Negative sizes or strides are not supported: size={size}, stride={stride}")
        count = int(np.prod(size, dtype=object))
        if count == 0:
            return np.zeros(size, dtype=self._dtype(storage))
        available = min(numel, data.shape[0])
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if offset < 0 or last >= available:
            raise ValueError(
                f"Tensor view out of bounds of its storage '{storage.key}': offset={offset}, size={size}, "
                f"stride={stride}, storage elements={data.shape[0]}"
            )
        if count > available:
            raise ValueError(
                f"A tensor of {count} elements over storage '{storage.key}' of {available} elements (size={size}, "
                f"stride={stride}): a tensor may not be larger than its storage in a weights file."
            )
        self.budget -= count * max(data.itemsize, 4 if storage.bfloat16 else 1)
        if self.budget < 0:
            raise ValueError("The tensors of this file would take more than "
                             f"{_BUDGET_FACTOR}× its size in memory: it is not a plain weights file.")
        view = np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=tuple(s * data.itemsize for s in stride), writeable=False
        )
        # `as_strided` returns a view into the file buffer: copy it out.
        array = np.array(view, dtype=data.dtype.newbyteorder("="), copy=True, order="C")
        if storage.bfloat16:  # bfloat16 is the upper half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array

    @staticmethod
    def _dtype(storage):
        return np.float32 if storage.bfloat16 else storage.dtype.newbyteorder("=")

    def resolve(self, obj):
        """`obj` with every tensor record replaced by an array; shared objects stay shared, cycles stay cycles."""
        key = id(obj)
        if key in self.memo:
            return self.memo[key][1]
        if isinstance(obj, _TensorRecord):
            out = self.tensor(obj)
        elif isinstance(obj, dict):
            out = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
            self.memo[key] = (obj, out)
            for k, v in obj.items():
                out[self.resolve(k)] = self.resolve(v)
        elif isinstance(obj, list):
            out = []
            self.memo[key] = (obj, out)
            out.extend(self.resolve(v) for v in obj)
        elif isinstance(obj, tuple):
            out = tuple(self.resolve(v) for v in obj)
            if key in self.memo:  # a cycle through this tuple was closed while resolving it
                return self.memo[key][1]
        elif isinstance(obj, PickledObject):
            out = obj
            self.memo[key] = (obj, out)
            obj.args = self.resolve(obj.args)
            obj.state = self.resolve(obj.state)
            obj.items = self.resolve(obj.items)
            obj.list_items = self.resolve(obj.list_items)
        else:
            return obj
        self.memo[key] = (obj, out)  # keeps `obj` alive so its id is not reused
        return out


def _read_legacy(raw, path):
    """The unpickled object and its storages (with data) of a legacy-format file."""
    f = io.BytesIO(raw)
    try:
        magic, _ = _restricted_load(f)
        if magic != LEGACY_MAGIC_NUMBER:
            raise ValueError(f"{path} is not a torch checkpoint (bad magic number).")
        protocol, _ = _restricted_load(f)
        if protocol != LEGACY_PROTOCOL_VERSION:
            raise ValueError(f"Unsupported torch checkpoint protocol version {protocol} in {path}; expected "
                             f"{LEGACY_PROTOCOL_VERSION}.")
        sys_info, _ = _restricted_load(f)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise ValueError(f"{path} holds big-endian data: not supported.")
        result, unpickler = _restricted_load(f)
        storage_keys, _ = _restricted_load(f)
    except EOFError as e:
        raise ValueError(f"{path} is truncated or not a torch file.") from e
    if not isinstance(storage_keys, list):
        raise ValueError(f"{path} is not a torch checkpoint: no list of storage keys after the object.")
    storages = unpickler.storages
    for key in storage_keys:
        key = str(key)
        if key not in storages:
            raise ValueError(f"Storage key {key!r} is not used by any tensor.")
        storage = storages[key]
        header = f.read(8)
        if len(header) != 8:
            raise ValueError(f"{path} is truncated at storage {key!r}.")
        numel = int(np.frombuffer(header, dtype="<i8")[0])
        nbytes = numel * storage.dtype.itemsize
        start = f.tell()
        if numel < 0 or start + nbytes > len(raw):
            raise ValueError(f"{path} is truncated at storage {key!r}.")
        storage.data = np.frombuffer(raw, dtype=storage.dtype, count=numel, offset=start)
        f.seek(start + nbytes)
    return result, storages


def _read_zip(raw, path):
    """The unpickled object and its storages (with data) of a zip-format file."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise ValueError(f"{path} is a truncated or corrupt zip file ({e}); not a readable torch checkpoint.") from e
    pickles = [name for name in infos if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"{path} is a zip file but not a torch checkpoint: expected one '<folder>/data.pkl', "
                         f"found {pickles or 'none'}.")
    prefix = pickles[0][: -len("data.pkl")]

    def member(name):
        info = infos.get(name)
        if info is None:
            raise ValueError(f"{path} is missing the zip member {name!r}.")
        if info.file_size > len(raw):  # a compressed member may not expand beyond the file's own size
            raise ValueError(f"{path}: zip member {name!r} would expand to {info.file_size} bytes, more than the "
                             f"file's {len(raw)}.")
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
            raise ValueError(f"{path} is truncated or corrupt at {name!r} ({e}).") from e

    if prefix + "byteorder" in infos and member(prefix + "byteorder").strip() not in (b"little", b""):
        raise ValueError(f"{path} holds big-endian data: not supported.")
    try:
        result, unpickler = _restricted_load(io.BytesIO(member(pickles[0])))
    except EOFError as e:
        raise ValueError(f"{path}: {pickles[0]} is truncated.") from e
    for key, storage in unpickler.storages.items():
        data = member(f"{prefix}data/{key}")
        nbytes = storage.numel * storage.dtype.itemsize
        if len(data) < nbytes:
            raise ValueError(f"{path}: storage {key!r} holds {len(data)} bytes, its tensors need {nbytes}.")
        storage.data = np.frombuffer(data, dtype=storage.dtype, count=storage.numel)
    return result, unpickler.storages


def load_torch_checkpoint(path, materialize=True):
    """Loads a `torch.save` file (zip or legacy format) as numpy arrays, without torch.

    Only tensors, nested dicts / lists / tuples, plain Python values and the inert objects of `STUB_GLOBALS` are
    supported; no code from the file is ever executed (see `RestrictedUnpickler`). Strides and storage offsets are
    honoured, so non-contiguous tensors are read correctly; bfloat16 tensors are widened to float32.

    Args:
        path: String or path-like. A file written by `torch.save`.
        materialize: Boolean. If False, tensors are returned as records with attributes `storage` (whose `.data` is
            the storage's flat array), `storage_offset`, `size` and `stride`, for inspection.

    Returns:
        The unpickled object with every tensor replaced by a numpy array; for a state dict, a `dict` mapping names
        to arrays.

    Raises:
        pickle.UnpicklingError: if the file names a disallowed global (the message names it).
        ValueError: if the file is not a torch checkpoint, is truncated, or breaks the resource bounds.

    Example:

    >>> state = load_torch_checkpoint("model.pth")  # doctest: +SKIP
    >>> state["_conv_stem.weight"].shape  # doctest: +SKIP
    (32, 3, 3, 3)
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        result, storages = (_read_zip if raw[:2] == b"PK" else _read_legacy)(raw, path)
        missing = [k for k, s in storages.items() if s.data is None]
        if missing:
            raise ValueError(f"{path} has no data for storages {missing[:5]}.")
        if not materialize:
            return result
        return _Materializer(_BUDGET_FACTOR * len(raw) + _BUDGET_SLACK).resolve(result)
    except RecursionError as e:
        raise ValueError(f"{path} nests its objects too deeply to be a weights file.") from e
    except MemoryError as e:
        raise ValueError(f"{path} needs more memory than a weights file of its size can.") from e
    except pickle.UnpicklingError:
        raise
    except (pickle.PickleError, IndexError, KeyError, TypeError, AttributeError, struct.error) as e:
        raise ValueError(f"{path} is corrupt: {type(e).__name__}: {e}") from e


def load_torch_state_dict(path):
    """Loads a torch state dict as a `dict` of numpy arrays.

    Args:
        path: String or path-like. A `torch.save` file (zip or legacy) holding a (possibly ordered) dict of tensors.

    Returns:
        Dict mapping each parameter or buffer name to a numpy array with the tensor's shape (torch layout, e.g.
        OIHW for conv kernels).
    """
    obj = load_torch_checkpoint(path)
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"{os.fspath(path)} does not hold a flat state dict of tensors.")
    return dict(obj)
