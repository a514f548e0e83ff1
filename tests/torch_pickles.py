"""Hand-assembled torch checkpoints (pickle opcodes, no torch) for the reader's security and bounds tests."""

import io
import pickle
import struct
import zipfile

import numpy as np

from vqkeras.backbones.torch_checkpoint import LEGACY_MAGIC_NUMBER

MARK, TUPLE, REDUCE, BINPERSID, NONE, STOP = b"(", b"t", b"R", b"Q", b"N", b"."
PROTO = b"\x80\x02"


def glob(module, name):
    return f"c{module}\n{name}\n".encode()


def text(value):
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value):
    return b"J" + struct.pack("<i", value)


def int_tuple(values):
    return MARK + b"".join(integer(v) for v in values) + TUPLE


def tensor(key, size, stride, numel, offset=0, legacy=True, storage="FloatStorage"):
    """Opcodes that push `_rebuild_tensor_v2(storage key, offset, size, stride)`."""
    pid = MARK + text("storage") + glob("torch", storage) + text(key) + text("cpu") + integer(numel)
    pid += (NONE if legacy else b"") + TUPLE
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID + integer(offset)
            + int_tuple(size) + int_tuple(stride) + TUPLE + REDUCE)


def legacy_file(body, storages):
    """A legacy torch file: header pickles, the object's pickle `body` (opcodes, no PROTO/STOP), the storage keys
    and each storage's data (`storages`: key → 1-D array)."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = b"".join(pickle.dumps(obj, protocol=2) for obj in (LEGACY_MAGIC_NUMBER, 1001, sys_info))
    out += PROTO + body + STOP + pickle.dumps(list(storages), protocol=2)
    for data in storages.values():
        data = np.ascontiguousarray(data)
        out += np.int64(data.size).astype("<i8").tobytes() + data.tobytes()
    return out


def zip_file(data_pkl, storages, folder="archive"):
    """A zip-format torch file: `<folder>/data.pkl` (complete pickle bytes) and `<folder>/data/<key>` members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{folder}/data.pkl", data_pkl)
        archive.writestr(f"{folder}/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"{folder}/data/{key}", np.ascontiguousarray(data).tobytes())
        archive.writestr(f"{folder}/version", "3\n")
    return buffer.getvalue()


def doubling_chain(levels):
    """Opcodes of `a_0 = []`, `a_i = [a_(i−1), a_(i−1)]`: `levels` levels of shared references, 2^levels paths."""
    out = b"]" + b"q" + bytes([0])  # EMPTY_LIST, BINPUT 0
    for i in range(1, levels + 1):
        out += MARK + b"h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"l" + b"q" + bytes([i])  # [a, a], BINPUT i
    return out


def nested_lists(depth):
    """Opcodes of a list nested `depth` deep."""
    return MARK * depth + b"l" * depth
