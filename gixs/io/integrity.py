"""Integrity checks of detector files that do not trust the decoders.

Decoders return an image of the right shape from a damaged file: libtiff stops inflating
a deflate strip once it has the bytes it wants (a damaged end or checksum goes unseen) and
fills strips it cannot decode with zeros; fabio decodes a CBF byte-offset stream to the
number of pixels the header promises, whatever follows. These checks read the raw
bytes themselves:

- :func:`tiff_directories` / :func:`check_tiff_layout`: every directory, strip and tile
  of a TIFF lies inside the file;
- :func:`check_tiff_strips`: each deflate or packbits strip of a frame decodes completely
  (deflate: its zlib checksum holds) to exactly the bytes its rows need;
- :func:`check_cbf`: the header of a CBF is complete, its binary section is all there and,
  without a ``Content-MD5`` (which fabio checks), its byte-offset stream decodes to exactly
  the number of pixels the header states.

Damage that changes no length and has no checksum (a flipped bit in uncompressed data or
in an LZW strip, a one-byte delta of a CBF without MD5) cannot be seen in any file. Nor
can a file cut short and then zero-padded to its full size (what a crash of some
filesystems leaves): an EDF, an uncompressed TIFF or an HDF5 dataset without filters
then reads with zeros at its end. No zero-tail rule is applied to catch it: real frames
have such tails (the region below the sample horizon of a GISAXS frame is 94-96% zero
pixels at 0.04-0.06 counts/pixel in the P03 frames of the test data, and a Pilatus dark
or a beam-off frame is all zeros). A file cut short without padding is refused in every
format (the TIFF strip layout, the EDF header's size, the CBF binary size, the HDF5
superblock's end of file).
"""

from __future__ import annotations

import os
import re
import struct
import zlib

import numpy as np

from gixs.errors import FormatError

_TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_INT = {1: "B", 3: "H", 4: "I", 16: "Q", 13: "I", 18: "Q"}
#: TIFF tags read: width, length, bits/sample, compression, strip offsets, samples/pixel,
#: rows/strip, strip byte counts, planar config, tile width/length/offsets/byte counts.
_TAGS = (256, 257, 258, 259, 273, 277, 278, 279, 284, 322, 323, 324, 325)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(path) -> bool:
    """True when the file starts with a TIFF or BigTIFF signature."""
    with open(path, "rb") as fh:
        return fh.read(4) in _TIFF_MAGIC


def tiff_directories(path):
    """The directories (frames) of a TIFF as dicts tag -> tuple of values (the tags of
    :data:`_TAGS`), checking that each directory and strip table lies inside the file.

    Returns ``[]`` for a file that is not a TIFF.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head[:4] not in _TIFF_MAGIC:
            return []
        size = os.fstat(fh.fileno()).st_size
        end = "<" if head[:2] == b"II" else ">"
        big = head[2:4] in (b"+\x00", b"\x00+")
        off = struct.unpack(end + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
        seen, out = set(), []
        while off != 0:
            n_ifd = len(out)
            if off in seen or off + 2 > size:
                raise FormatError(f"{path}: damaged TIFF: directory {n_ifd} at byte {off} lies "
                                  f"outside the file ({size} bytes; truncated?)")
            seen.add(off)
            fh.seek(off)
            raw = fh.read(8 if big else 2)
            n_tags = struct.unpack(end + ("Q" if big else "H"), raw)[0]
            entry = 20 if big else 12
            block = fh.read(n_tags * entry + (8 if big else 4))
            if len(block) < n_tags * entry + (8 if big else 4):
                raise FormatError(f"{path}: truncated TIFF: directory {n_ifd} is cut short")
            tags = {}
            for i in range(n_tags):
                e = block[i * entry:(i + 1) * entry]
                tag, typ = struct.unpack(end + "HH", e[:4])
                cnt = struct.unpack(end + ("Q" if big else "I"), e[4:12] if big else e[4:8])[0]
                if tag not in _TAGS or typ not in _TIFF_INT:
                    continue
                width = _TIFF_TYPES[typ] * cnt
                if width <= (8 if big else 4):
                    data = (e[12:20] if big else e[8:12])[:width]
                else:
                    ptr = struct.unpack(end + ("Q" if big else "I"),
                                        e[12:20] if big else e[8:12])[0]
                    if ptr + width > size:
                        raise FormatError(f"{path}: truncated TIFF: the strip table of "
                                          f"directory {n_ifd} lies beyond the end of the file")
                    pos = fh.tell()
                    fh.seek(ptr)
                    data = fh.read(width)
                    fh.seek(pos)
                tags[tag] = struct.unpack(end + _TIFF_INT[typ] * cnt, data)
            out.append(tags)
            off = struct.unpack(end + ("Q" if big else "I"), block[n_tags * entry:])[0]
        return out


def check_tiff_layout(path):
    """FormatError unless every directory, strip and tile of a TIFF lies inside the file
    (libtiff reports a cut strip on stderr only and PIL returns zeros for it); returns the
    directories (:func:`tiff_directories`)."""
    dirs = tiff_directories(path)
    size = os.path.getsize(path)
    for n_ifd, tags in enumerate(dirs):
        for o_tag, c_tag, what in ((273, 279, "strip"), (324, 325, "tile")):
            for k, (o, c) in enumerate(zip(tags.get(o_tag, ()), tags.get(c_tag, ()))):
                if o + c > size:
                    raise FormatError(f"{path}: truncated TIFF: {what} {k} of frame {n_ifd} "
                                      f"needs bytes {o}-{o + c}, the file has {size}")
    return dirs


def _first(tags, tag, default):
    vals = tags.get(tag)
    return vals[0] if vals else default


def _unpackbits(data: bytes) -> int:
    """Length of the PackBits decoding of ``data`` (the whole run structure walked)."""
    n, i, size = 0, 0, len(data)
    while i < size:
        h = data[i]
        if h < 128:
            if i + 1 + h + 1 > size:
                raise ValueError("literal run past the end of the strip")
            n += h + 1
            i += h + 2
        elif h > 128:
            n += 257 - h
            i += 2
        else:
            i += 1
    if i != size:
        raise ValueError("run past the end of the strip")
    return n


def check_tiff_strips(path, tags, frame: int = 0):
    """FormatError unless each deflate or packbits strip/tile of one TIFF directory
    decodes completely to exactly the bytes it should hold.

    Parameters
    ----------
    path : str
        The TIFF file (named in the message).
    tags : dict
        One entry of :func:`tiff_directories`.
    frame : int
        The directory's number, for the message.
    """
    compression = _first(tags, 259, 1)
    if compression not in (8, 32946, 32773):
        return
    width, height = _first(tags, 256, 0), _first(tags, 257, 0)
    bits = _first(tags, 258, 8)
    spp = _first(tags, 277, 1)
    planar = _first(tags, 284, 1)
    per_pixel = bits * (spp if planar == 1 else 1)
    if 324 in tags:
        tw, th = _first(tags, 322, 0), _first(tags, 323, 0)
        pieces = [("tile", o, c, (tw * per_pixel + 7) // 8 * th, None)
                  for o, c in zip(tags[324], tags.get(325, ()))]
    else:
        rps = min(_first(tags, 278, height) or height, height) or 1
        row_bytes = (width * per_pixel + 7) // 8
        per_plane = -(-height // rps)
        pieces = []
        for k, (o, c) in enumerate(zip(tags.get(273, ()), tags.get(279, ()))):
            rows = min(rps, height - (k % per_plane) * rps)
            pieces.append(("strip", o, c, row_bytes * rps, row_bytes * rows))
    with open(path, "rb") as fh:
        for k, (what, off, count, full, need) in enumerate(pieces):
            fh.seek(off)
            raw = fh.read(count)
            need = full if need is None else need
            try:
                if compression == 32773:
                    got = _unpackbits(raw)
                else:
                    dec = zlib.decompressobj()
                    got = len(dec.decompress(raw, full + 1))
                    if not dec.eof:
                        raise ValueError("the deflate stream ends early or its checksum is "
                                         "missing")
            except (zlib.error, ValueError) as exc:
                kind = "packbits" if compression == 32773 else "deflate"
                raise FormatError(f"{path}: damaged TIFF: {kind} {what} {k} of frame {frame} "
                                  f"does not decode ({exc})") from None
            if not need <= got <= full:
                raise FormatError(f"{path}: damaged TIFF: {what} {k} of frame {frame} decodes "
                                  f"to {got} bytes, its rows need {need}")


#: Start of the binary section of a CBF file (after the MIME header).
CBF_BINARY_START = b"\x0c\x1a\x04\xd5"


def _open_decompressed(path):
    """``path`` opened for reading its decompressed bytes (gzip and bzip2 files, which
    fabio reads as well: ``frame.cbf.gz``), or as it is."""
    import bz2
    import gzip

    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb"), True
    if magic == b"BZh":
        return bz2.open(path, "rb"), True
    return open(path, "rb"), False


def check_cbf(path):
    """Validate a CBF (also gzip/bzip2-compressed) before fabio decodes it: header
    complete (a CBF cut inside its header makes fabio loop forever), binary section all
    there and, without an MD5, the byte-offset stream holds exactly the stated number of
    pixels."""
    name = os.fspath(path).lower()
    try:
        fh, compressed = _open_decompressed(path)
        with fh:
            head = fh.read(65536)
            if not head.lstrip().startswith(b"###CBF") and not name.endswith(
                    (".cbf", ".cbf.gz", ".cbf.bz2")):
                return
            while CBF_BINARY_START not in head:  # a header longer than 64 kB
                more = fh.read(1 << 20)
                if not more:
                    break
                head += more
            if compressed:  # the decompressed size is known only once all is read
                head += fh.read()
                size = len(head)
            else:
                size = os.fstat(fh.fileno()).st_size
    except (OSError, EOFError) as exc:  # a gzip/bzip2 stream cut short or damaged
        raise FormatError(f"{path}: truncated or damaged compressed file ({exc})") from None
    start = head.find(CBF_BINARY_START)
    if start < 0:
        raise FormatError(f"{path}: truncated or damaged CBF file: the header ends before "
                          f"the binary data section starts (file is {size} bytes"
                          f"{' decompressed' if compressed else ''})")
    mime = head[:start]
    match = re.search(rb"X-Binary-Size:\s*(\d+)", mime)
    if match is None:
        raise FormatError(f"{path}: damaged CBF file: no X-Binary-Size in its header")
    need = int(match.group(1))
    have = size - (start + len(CBF_BINARY_START))
    if have < need:
        raise FormatError(f"{path}: truncated CBF file: {have} of the {need} bytes of binary "
                          "data are present")
    n_el = re.search(rb"X-Binary-Number-of-Elements:\s*(\d+)", mime)
    if b"Content-MD5" in mime or n_el is None or b"BYTE_OFFSET" not in mime.upper():
        return  # fabio checks the MD5; other codecs are fabio's to judge
    first = start + len(CBF_BINARY_START)
    if compressed:
        stream = head[first:first + need]
    else:
        with open(path, "rb") as fh:
            fh.seek(first)
            stream = fh.read(need)
    try:
        got = byte_offset_count(stream)
    except FormatError as exc:
        raise FormatError(f"{path}: damaged CBF file: {exc}") from None
    if got != int(n_el.group(1)):
        raise FormatError(f"{path}: damaged CBF file: its byte-offset data decode to {got} "
                          f"pixels, the header states {int(n_el.group(1))}")


def byte_offset_count(stream: bytes) -> int:
    """Number of values a CBF byte-offset stream holds (each value is 1, 3, 7 or 15 bytes:
    a delta byte, or 0x80 followed by a 16-bit delta, or that at -32768 followed by a
    32-bit delta, or that at -2**31 followed by a 64-bit delta).

    Examples
    --------
    >>> byte_offset_count(bytes([1, 2, 0x80, 0x10, 0x00, 3]))
    4
    """
    b = np.frombuffer(stream, np.uint8)
    n, i, size = 0, 0, b.size
    esc = np.flatnonzero(b == 0x80)
    # walk only the escapes: plain bytes between them are one value each
    k = 0
    while True:
        while k < esc.size and esc[k] < i:
            k += 1
        nxt = esc[k] if k < esc.size else size
        n += int(nxt - i)
        if nxt >= size:
            return n
        i = int(nxt)
        step = 3
        if i + 3 <= size and stream[i + 1:i + 3] == b"\x00\x80":
            step = 7
            if i + 7 <= size and stream[i + 3:i + 7] == b"\x00\x00\x00\x80":
                step = 15
        if i + step > size:
            raise FormatError("byte-offset stream ends inside a value")
        n += 1
        i += step
