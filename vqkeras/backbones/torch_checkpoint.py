"""Read legacy (non-zip) `torch.save` checkpoints without torch.

A legacy torch checkpoint is a sequence of pickles followed by raw tensor data:

1. the magic number `0x1950a86a20f9469cfc6c`;
2. the protocol version (`1001`);
3. a small dict of system information (endianness, type sizes);
4. the pickled object (usually a state dict), whose tensors refer to their
   storages through `persistent_load` ids
   `("storage", StorageType, key, location, numel, view_metadata)`;
5. a pickled list of storage keys;
6. for every key in that list: an int64 element count, then the raw
   little-endian data.

Unpickling arbitrary data can run arbitrary code, so this module never calls
`pickle.load`. It uses `RestrictedUnpickler`, whose `find_class` resolves
only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` (mapped to
a local function that records the tensor's view) and the `torch.*Storage`
classes (mapped to inert dtype markers). Any other global raises
`pickle.UnpicklingError` before anything is called.

Each tensor is a view `(storage, offset, size, stride)`; the element at index
`(i_0, …, i_k)` is `storage[offset + Σ_d i_d·stride_d]`. Views are
materialised with these strides, so non-contiguous tensors come out right.
"""

import collections
import io
import os
import pickle

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage class name -> numpy dtype (little-endian).
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    """Inert stand-in for a `torch.*Storage` class: only carries a dtype."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])

    def __repr__(self):
        return f"<torch.{self.name} ({self.dtype})>"


class _Storage:
    """A storage referenced by the pickle; its data is filled in later."""

    def __init__(self, key, dtype, numel):
        self.key = key
        self.dtype = dtype
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


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False,
    backward_hooks=None, metadata=None,
):
    """Local replacement for `torch._utils._rebuild_tensor_v2`."""
    del requires_grad, backward_hooks, metadata
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError(
            "_rebuild_tensor_v2 expects a storage as its first argument. "
            f"Received: {type(storage).__name__}"
        )
    if len(size) != len(stride):
        raise pickle.UnpicklingError(
            f"Tensor size and stride differ in length: size={size}, "
            f"stride={stride}"
        )
    return _TensorRecord(storage, storage_offset, size, stride)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a torch state dict needs.

    Allowed globals:
    - `collections.OrderedDict`;
    - `torch._utils._rebuild_tensor_v2` (replaced by a local function that
      returns a record of the tensor's storage, offset, size and stride);
    - `torch.<Type>Storage` for the numeric storage types (replaced by inert
      markers that only carry a dtype).

    Everything else, e.g. `os.system` or `builtins.eval`, raises
    `pickle.UnpicklingError` when the pickle names it, before it could be
    called. Persistent ids must be legacy storage ids.

    Args:
        file: Binary file object positioned at the start of a pickle.
    """

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"Refusing to load global '{module}.{name}': only tensor "
            "storages (torch.*Storage, torch._utils._rebuild_tensor_v2) and "
            "collections.OrderedDict are allowed in a weights file."
        )

    def persistent_load(self, pid):
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise pickle.UnpicklingError(
                f"Unsupported persistent id in weights file: {pid!r}"
            )
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(key, storage_type.dtype, int(numel))
            self.storages[key] = storage
        if view_metadata is not None:
            _view_key, offset, view_size = view_metadata
            return _StorageView(storage, int(offset), int(view_size))
        return storage


def _restricted_load(file):
    unpickler = RestrictedUnpickler(file)
    return unpickler.load(), unpickler


def _materialize(record):
    """Read a `_TensorRecord` into a new contiguous numpy array."""
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
        raise ValueError(
            f"Negative sizes or strides are not supported: size={size}, "
            f"stride={stride}"
        )
    if 0 in size:
        return np.zeros(size, dtype=data.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or last >= min(numel, data.shape[0]):
        raise ValueError(
            f"Tensor view out of bounds of its storage '{storage.key}': "
            f"offset={offset}, size={size}, stride={stride}, "
            f"storage elements={data.shape[0]}"
        )
    view = np.lib.stride_tricks.as_strided(
        data[offset:],
        shape=size,
        strides=tuple(s * data.itemsize for s in stride),
        writeable=False,
    )
    # `as_strided` returns a view into the file buffer: copy it out.
    return np.array(
        view, dtype=data.dtype.newbyteorder("="), copy=True, order="C"
    )


def _resolve(obj):
    """Replace tensor records by arrays inside dicts, lists and tuples."""
    if isinstance(obj, _TensorRecord):
        return _materialize(obj)
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def load_torch_checkpoint(path, materialize=True):
    """Loads a legacy (non-zip) `torch.save` file as numpy arrays.

    Only tensors, nested dicts / lists / tuples and plain Python values are
    supported; no torch code or other global is ever executed (see
    `RestrictedUnpickler`). Strides and storage offsets are honoured, so
    non-contiguous tensors are read correctly.

    Args:
        path: String or path-like. A file written by `torch.save` with
            `_use_new_zipfile_serialization=False` (torch's legacy format).
        materialize: Boolean. If False, tensors are returned as records
            with attributes `storage` (whose `.data` is the storage's flat
            array), `storage_offset`, `size` and `stride`, for inspection.

    Returns:
        The unpickled object with every tensor replaced by a numpy array;
        for a state dict, a `dict` mapping names to arrays.

    Raises:
        pickle.UnpicklingError: if the file names a disallowed global.
        ValueError: if the file is not a legacy torch checkpoint or is
            truncated.

    Example:

    >>> state = load_torch_checkpoint("model.pth")  # doctest: +SKIP
    >>> state["_conv_stem.weight"].shape  # doctest: +SKIP
    (32, 3, 3, 3)
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"PK":
        raise ValueError(
            f"{path} is a zip-format torch checkpoint; only the legacy "
            "(non-zip) format is supported."
        )
    f = io.BytesIO(raw)
    try:
        magic, _ = _restricted_load(f)
        if magic != LEGACY_MAGIC_NUMBER:
            raise ValueError(
                f"{path} is not a legacy torch checkpoint (bad magic number)."
            )
        protocol, _ = _restricted_load(f)
        if protocol != LEGACY_PROTOCOL_VERSION:
            raise ValueError(
                f"Unsupported torch checkpoint protocol version {protocol} "
                f"in {path}; expected {LEGACY_PROTOCOL_VERSION}."
            )
        sys_info, _ = _restricted_load(f)
        if isinstance(sys_info, dict) and not sys_info.get(
            "little_endian", True
        ):
            raise ValueError(f"{path} holds big-endian data: not supported.")
        result, unpickler = _restricted_load(f)
        storage_keys, _ = _restricted_load(f)
    except (EOFError, pickle.UnpicklingError) as e:
        if isinstance(e, pickle.UnpicklingError):
            raise
        raise ValueError(f"{path} is truncated or not a torch file.") from e

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
        if start + nbytes > len(raw):
            raise ValueError(f"{path} is truncated at storage {key!r}.")
        storage.data = np.frombuffer(
            raw, dtype=storage.dtype, count=numel, offset=start
        )
        f.seek(start + nbytes)
    missing = [k for k, s in storages.items() if s.data is None]
    if missing:
        raise ValueError(f"{path} has no data for storages {missing[:5]}.")
    if not materialize:
        return result
    return _resolve(result)


def load_torch_state_dict(path):
    """Loads a legacy torch state dict as a `dict` of numpy arrays.

    Args:
        path: String or path-like. A legacy `torch.save` file holding a
            (possibly ordered) dict of tensors.

    Returns:
        Dict mapping each parameter or buffer name to a numpy array with the
        tensor's shape (torch layout, e.g. OIHW for conv kernels).
    """
    obj = load_torch_checkpoint(path)
    if not isinstance(obj, dict) or not all(
        isinstance(v, np.ndarray) for v in obj.values()
    ):
        raise ValueError(
            f"{os.fspath(path)} does not hold a flat state dict of tensors."
        )
    return dict(obj)
