"""Builders of valid and damaged detector files for the fault tests (all in tmp_path)."""

import contextlib
import signal
import struct
import zlib

import numpy as np


def tiff_ifd_first(path, a, compression="deflate", rows_per_strip=16):
    """A little-endian uint16 TIFF with its directory right after the header and the
    (deflate-compressed or raw) strips after it, as many detector TIFFs are laid out: a
    cut anywhere in the data leaves a readable directory pointing past the end."""
    a = np.ascontiguousarray(a, "<u2")
    h, w = a.shape
    strips = [a[i:i + rows_per_strip].tobytes() for i in range(0, h, rows_per_strip)]
    code = 1
    if compression == "deflate":
        strips, code = [zlib.compress(s) for s in strips], 8
    elif compression == "packbits":
        strips, code = [packbits(s) for s in strips], 32773
    n_tags = 10
    off_arr = 8 + 2 + 12 * n_tags + 4
    cnt_arr = off_arr + 4 * len(strips)
    pos = cnt_arr + 4 * len(strips)
    offs = []
    for s in strips:
        offs.append(pos)
        pos += len(s)
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 16), (259, 3, 1, code),
            (262, 3, 1, 1), (273, 4, len(strips), off_arr), (277, 3, 1, 1),
            (278, 4, 1, rows_per_strip), (279, 4, len(strips), cnt_arr), (339, 3, 1, 1)]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n_tags)
    for tag, typ, cnt, val in tags:
        out += (struct.pack("<HHII", tag, typ, cnt, val) if typ == 4
                else struct.pack("<HHIHH", tag, typ, cnt, val, 0))
    out += struct.pack("<I", 0)
    out += struct.pack(f"<{len(strips)}I", *offs) + struct.pack(f"<{len(strips)}I",
                                                                 *map(len, strips))
    out += b"".join(strips)
    with open(path, "wb") as fh:
        fh.write(out)
    return len(out)


def packbits(data: bytes) -> bytes:
    """PackBits encoding (TIFF compression 32773): runs of 3+ equal bytes as a repeat,
    the rest as literal runs of at most 128 bytes."""
    out, i, n = bytearray(), 0, len(data)
    while i < n:
        j = i
        while j < n and j - i < 128 and data[j] == data[i]:
            j += 1
        if j - i >= 3:
            out += bytes([257 - (j - i), data[i]])
            i = j
            continue
        j = i
        while j < n and j - i < 128 and not (j + 2 < n and data[j] == data[j + 1] == data[j + 2]):
            j += 1
        out += bytes([j - i - 1]) + data[i:j]
        i = j
    return bytes(out)


def flip(src, dst, pos, xor=0x10, value=None):
    """Copy ``src`` to ``dst`` with byte ``pos`` (negative: from the end) xor-ed with
    ``xor``, or set to ``value``."""
    data = bytearray(open(src, "rb").read())
    data[pos] = data[pos] ^ xor if value is None else value
    with open(dst, "wb") as fh:
        fh.write(bytes(data))
    return dst


def cut(src, dst, n_bytes):
    """Copy the first ``n_bytes`` of ``src`` to ``dst``."""
    with open(src, "rb") as fh:
        data = fh.read()
    with open(dst, "wb") as fh:
        fh.write(data[:n_bytes])
    return dst


@contextlib.contextmanager
def bounded(seconds=20):
    """Fail (instead of hanging the suite) when a read takes longer than ``seconds``."""
    def alarm(signum, frame):
        raise TimeoutError(f"read still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
