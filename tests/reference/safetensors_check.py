#!/usr/bin/python3
"""Independent oracle for iclc's safetensors files, written from the format description with numpy
(the `safetensors` package is not used).

  safetensors_check.py FILE          check FILE and print one line per metadata entry and tensor:
                                       meta <key utf-8 hex> <value utf-8 hex>
                                       tensor <name utf-8 hex> <dtype> <dims comma-separated> <crc32 hex> <sum %.17g>
                                     (file order; sum = float64 sum of the elements)
  safetensors_check.py --write FILE  write a reference file the way other tools do (header not padded,
                                     mixed dtypes, so some tensors start at offsets that are not aligned)
Exit status 1 with a message on stderr when FILE breaks the format.
"""
import json
import struct
import sys
import zlib

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def fail(msg):
    sys.stderr.write("safetensors_check: %s\n" % msg)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        fail("duplicate key in the header")
    return dict(pairs)


def check(path):
    blob = open(path, "rb").read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("header length past the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    data = blob[8 + n:]
    if not isinstance(header, dict):
        fail("header is not an object")
    out = []
    for k, v in header.get("__metadata__", {}).items():
        if not isinstance(v, str):
            fail("metadata value is not a string")
        out.append("meta %s %s" % (k.encode().hex(), v.encode().hex()))
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("tensor %r has fields %s" % (name, sorted(info)))
        dt = np.dtype(DTYPES[info["dtype"]])
        shape = [int(d) for d in info["shape"]]
        b, e = info["data_offsets"]
        if not 0 <= b <= e <= len(data):
            fail("tensor %r offsets out of range" % name)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dt.itemsize != e - b:
            fail("tensor %r: shape and offsets disagree" % name)
        spans.append((b, e))
        arr = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
        total = float(np.sum(arr.astype(np.float64))) if arr.size else 0.0
        out.append("tensor %s %s %s %08x %.17g" % (name.encode().hex(), info["dtype"], ",".join(map(str, shape)),
                                                   zlib.crc32(data[b:e]) & 0xffffffff, total))
    at = 0
    for b, e in sorted(spans):
        if b != at:
            fail("hole or overlap at byte %d of the data section" % at)
        at = e
    if at != len(data):
        fail("%d bytes after the last tensor" % (len(data) - at))
    print("\n".join(out))


def write(path):
    tensors = [
        ("weight", "F32", np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1),
        ("flags", "U8", np.array([1, 0, 255], dtype="u1")),
        ("steps", "I64", np.array([-1, 2**40, 7], dtype="<i8")),
        ("half", "F16", np.array([1.5, -2.0], dtype="<f2")),
        ("scalar", "F32", np.array(3.25, dtype="<f4")),
        ("empty", "F32", np.zeros((0, 4), dtype="<f4")),
    ]
    header = {"__metadata__": {"format": "pt", "note": "caf\u00e9"}}
    data = b""
    for name, dtype, arr in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(sys.argv[2])
    elif len(sys.argv) == 2:
        check(sys.argv[1])
    else:
        fail("usage: safetensors_check.py FILE | --write FILE")
