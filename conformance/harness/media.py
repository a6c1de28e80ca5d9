"""Deterministic test media, made by code in this repository (issue 10 groundwork).

Every file is generated from a fixed pattern, so the same call returns the same bytes on every
machine and run: nothing is downloaded and nothing is committed as an opaque blob. The encoders are
pure Python (``zlib``, ``struct``, ``wave``); they are small and deliberately simple:

* PNG  -- 8-bit RGB, filter type 0 on every row, one IDAT chunk.
* GIF  -- GIF89a, 256-colour global palette, LZW written with a clear code every 254 pixels so
  the code size stays 9 bits (valid for every decoder, just not compact).
* JPEG -- baseline (SOF0), YCbCr 4:4:4, flat quantisation, Huffman tables with fixed-length codes
  (every DC category 4 bits, every AC run/size symbol 8 bits): valid, not compact.
* WebP -- lossless (VP8L), no transforms, "simple" prefix codes with at most two symbols per
  channel, so each image is drawn from two values per channel (1 bit per varying channel).
* WAV  -- 16-bit PCM through the standard library's :mod:`wave`.
* FLAC -- the same samples in VERBATIM subframes (valid, uncompressed), STREAMINFO with the MD5.
* MP4 and MP3 -- only through ``ffmpeg`` on ``PATH`` (:func:`mp4_clip`, :func:`mp3`);
  :func:`ffmpeg_missing` says why not when it is absent, for a skip with positive evidence.

Hostile media (:func:`hostile`) are the broken inputs a server must reject with a 4xx: truncated
files, an empty file, a decompression bomb (a tiny PNG that declares 100000 x 100000 pixels),
bytes that are no image at all, and data URIs that lie (wrong MIME type, non-base64 payload).

:data:`CATALOG` names every valid medium by a stable key (``png-224``, ``wav-1s``, ...) with its
MIME type and declared properties; the offline tests (``tests/test_media.py``) prove each file
decodes to what it declares.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import io
import math
import shutil
import struct
import subprocess
import tempfile
import wave
import zlib
from collections.abc import Callable
from pathlib import Path

# --------------------------------------------------------------------------------------------
# The pixel pattern shared by every image format


def _pixel(x: int, y: int, w: int, h: int) -> tuple[int, int, int]:
    """A deterministic RGB pattern: 8-px checkerboard over a diagonal gradient."""
    check = ((x >> 3) + (y >> 3)) & 1
    r = (x * 255 // max(w - 1, 1)) if w > 1 else 200
    g = (y * 255 // max(h - 1, 1)) if h > 1 else 60
    b = 230 if check else 25
    return r, g, b


def rgb_rows(width: int, height: int) -> list[bytes]:
    """The pattern as ``height`` rows of ``3 * width`` bytes (RGB); equal to :func:`_pixel` per
    pixel, built a channel at a time so a 2048x1536 image takes well under a second."""
    _validate_size(width, height)
    reds = bytes(_pixel(x, 0, width, height)[0] for x in range(width))
    blues = [bytes(_pixel(x, y, width, height)[2] for x in range(width)) for y in (0, 8)]
    rows = []
    for y in range(height):
        row = bytearray(3 * width)
        row[0::3] = reds
        row[1::3] = bytes([_pixel(0, y, width, height)[1]]) * width
        row[2::3] = blues[(y >> 3) & 1]
        rows.append(bytes(row))
    return rows


def _validate_size(width: int, height: int, limit: int = 1 << 14) -> None:
    if not (isinstance(width, int) and isinstance(height, int)):
        raise TypeError("width and height must be int")
    if not (1 <= width <= limit and 1 <= height <= limit):
        raise ValueError(f"image size must be 1..{limit} per side, got {width}x{height}")


# --------------------------------------------------------------------------------------------
# PNG


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_from_raw(width: int, height: int, raw: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=32)
def png(width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of the shared pattern."""
    rows = rgb_rows(width, height)
    return _png_from_raw(width, height, b"".join(b"\x00" + row for row in rows))


# --------------------------------------------------------------------------------------------
# GIF

_GIF_LEVELS = (0, 36, 73, 109, 146, 182, 219, 255)  # 3-3-2 bit RGB palette


def _gif_palette() -> bytes:
    out = bytearray()
    for i in range(256):
        r, g, b = _GIF_LEVELS[i >> 5], _GIF_LEVELS[(i >> 2) & 7], (0, 85, 170, 255)[i & 3]
        out += bytes((r, g, b))
    return bytes(out)


def gif_palette_index(r: int, g: int, b: int) -> int:
    """The 3-3-2 palette index the GIF encoder uses for an RGB pixel."""
    return ((r >> 5) << 5) | ((g >> 5) << 2) | (b >> 6)


def _gif_lzw(indices: bytes) -> bytes:
    """LZW with min code size 8 and a clear code every 254 symbols (code size stays 9 bits)."""
    clear, end = 256, 257
    acc = nbits = 0
    out = bytearray()

    def put(code: int) -> None:
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += 9
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    for start in range(0, len(indices), 254):
        put(clear)
        for value in indices[start : start + 254]:
            put(value)
    put(end)
    if nbits:
        out.append(acc & 0xFF)
    blocks = bytearray([8])  # LZW minimum code size
    for i in range(0, len(out), 255):
        part = out[i : i + 255]
        blocks += bytes([len(part)]) + part
    return bytes(blocks + b"\x00")


@functools.lru_cache(maxsize=32)
def gif(width: int, height: int) -> bytes:
    """A GIF89a of the shared pattern, quantised to a 3-3-2 RGB palette."""
    rows = rgb_rows(width, height)
    indices = bytearray()
    for row in rows:
        for i in range(0, len(row), 3):
            indices.append(gif_palette_index(row[i], row[i + 1], row[i + 2]))
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0)  # global table, 256 colours
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return header + _gif_palette() + image + _gif_lzw(bytes(indices)) + b"\x3b"


# --------------------------------------------------------------------------------------------
# JPEG (baseline, 4:4:4)

_ZIGZAG: list[int] = sorted(
    range(64),
    key=lambda i: (
        (i // 8 + i % 8),
        (i % 8) if (i // 8 + i % 8) % 2 == 0 else (i // 8),
    ),
)  # zigzag position -> natural (row-major) index
_JPEG_Q = 8  # flat quantisation step
_COS = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]
_C = [1 / math.sqrt(2)] + [1.0] * 7
_AC_SYMBOLS = [0x00, 0xF0] + [(run << 4) | size for run in range(16) for size in range(1, 11)]


def _dct_quantised(block: tuple[float, ...]) -> list[int]:
    """Forward 8x8 DCT of a level-shifted block, quantised, in zigzag order."""
    tmp = [[sum(block[y * 8 + x] * _COS[u][x] for x in range(8)) for u in range(8)] for y in range(8)]
    coeffs = [0] * 64
    for v in range(8):
        for u in range(8):
            s = sum(tmp[y][u] * _COS[v][y] for y in range(8))
            coeffs[v * 8 + u] = round(0.25 * _C[u] * _C[v] * s / _JPEG_Q)
    return [coeffs[i] for i in _ZIGZAG]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.nbits = 0

    def put(self, value: int, nbits: int) -> None:
        self.acc = (self.acc << nbits) | (value & ((1 << nbits) - 1))
        self.nbits += nbits
        while self.nbits >= 8:
            self.nbits -= 8
            byte = (self.acc >> self.nbits) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.nbits) - 1

    def flush(self) -> bytes:
        if self.nbits:
            self.put((1 << (8 - self.nbits)) - 1, 8 - self.nbits)  # pad with 1-bits
        return bytes(self.out)


def _category(value: int) -> tuple[int, int]:
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


@functools.lru_cache(maxsize=32)
def jpeg(width: int, height: int) -> bytes:
    """A baseline JPEG (YCbCr 4:4:4) of the shared pattern."""
    rows = rgb_rows(width, height)
    planes: list[list[list[float]]] = [[], [], []]
    for row in rows:
        ys, cbs, crs = [], [], []
        for i in range(0, len(row), 3):
            r, g, b = row[i], row[i + 1], row[i + 2]
            ys.append(0.299 * r + 0.587 * g + 0.114 * b - 128)
            cbs.append(-0.168736 * r - 0.331264 * g + 0.5 * b)
            crs.append(0.5 * r - 0.418688 * g - 0.081312 * b)
        for plane, values in zip(planes, (ys, cbs, crs), strict=True):
            plane.append(values + [values[-1]] * (-width % 8))  # pad right by edge replication
    for plane in planes:
        plane.extend([plane[-1]] * (-height % 8))  # pad bottom
    cache: dict[tuple[float, ...], list[int]] = {}
    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for by in range(0, len(planes[0]), 8):
        for bx in range(0, len(planes[0][0]), 8):
            for c, plane in enumerate(planes):
                block = tuple(round(plane[by + y][bx + x], 3) for y in range(8) for x in range(8))
                zz = cache.get(block)
                if zz is None:
                    zz = cache[block] = _dct_quantised(block)
                diff = zz[0] - previous_dc[c]
                previous_dc[c] = zz[0]
                size, bits = _category(diff)
                writer.put(size, 4)  # DC table: category k has the 4-bit code k
                if size:
                    writer.put(bits, size)
                run = 0
                last = max((k for k in range(1, 64) if zz[k]), default=0)
                for k in range(1, last + 1):
                    if zz[k] == 0:
                        run += 1
                        continue
                    while run > 15:
                        writer.put(_AC_SYMBOLS.index(0xF0), 8)
                        run -= 16
                    size, bits = _category(zz[k])
                    writer.put(_AC_SYMBOLS.index((run << 4) | size), 8)
                    writer.put(bits, size)
                    run = 0
                if last < 63:
                    writer.put(_AC_SYMBOLS.index(0x00), 8)  # EOB
    scan = writer.flush()
    dqt = bytes([0]) + bytes([_JPEG_Q] * 64)  # table 0, 8-bit, flat
    dc_bits = [0] * 16
    dc_bits[3] = 12  # twelve 4-bit codes
    ac_bits = [0] * 16
    ac_bits[7] = len(_AC_SYMBOLS)  # 162 eight-bit codes
    dht = (
        bytes([0x00]) + bytes(dc_bits) + bytes(range(12))
        + bytes([0x10]) + bytes(ac_bits) + bytes(_AC_SYMBOLS)
    )
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    sos = bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0])
    app0 = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    return (
        b"\xff\xd8"
        + _jpeg_segment(0xE0, app0)
        + _jpeg_segment(0xDB, dqt)
        + _jpeg_segment(0xC0, sof)
        + _jpeg_segment(0xC4, dht)
        + _jpeg_segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )


# --------------------------------------------------------------------------------------------
# WebP (lossless VP8L, two values per channel)

WEBP_COLOURS = ((0x20, 0x60, 0xE0), (0xE0, 0xA0, 0x20))  # the two RGB values of a WebP checkerboard


class _LsbWriter:
    def __init__(self) -> None:
        self.acc = 0
        self.nbits = 0

    def put(self, value: int, nbits: int) -> None:
        self.acc |= (value & ((1 << nbits) - 1)) << self.nbits
        self.nbits += nbits

    def data(self) -> bytes:
        return self.acc.to_bytes((self.nbits + 7) // 8, "little")


def webp_pixel(x: int, y: int) -> tuple[int, int, int]:
    """The RGB value of the WebP image at (x, y): an 8-px checkerboard of :data:`WEBP_COLOURS`."""
    return WEBP_COLOURS[((x >> 3) + (y >> 3)) & 1]


@functools.lru_cache(maxsize=32)
def webp(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L): an 8-px checkerboard of the two colours in :data:`WEBP_COLOURS`."""
    _validate_size(width, height)
    bits = _LsbWriter()
    bits.put(0x2F, 8)  # VP8L signature
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1)  # alpha not used
    bits.put(0, 3)  # version 0
    bits.put(0, 1)  # no transform
    bits.put(0, 1)  # no colour cache
    bits.put(0, 1)  # no meta prefix codes
    low = [min(c[i] for c in WEBP_COLOURS) for i in range(3)]
    channels = (1, 0, 2)  # prefix codes come in the order green, red, blue (then alpha, distance)
    for ch in channels:
        values = sorted({c[ch] for c in WEBP_COLOURS})
        bits.put(1, 1)  # simple code
        bits.put(len(values) - 1, 1)
        bits.put(1, 1)  # first symbol has 8 bits
        for v in values:
            bits.put(v, 8)
    for symbol in (255, 0):  # alpha: always 255; distance: one unused symbol
        bits.put(1, 1)
        bits.put(0, 1)
        bits.put(1, 1)
        bits.put(symbol, 8)
    two_valued = [len({c[ch] for c in WEBP_COLOURS}) == 2 for ch in range(3)]
    for y in range(height):
        for x in range(width):
            pixel = webp_pixel(x, y)
            for ch in channels:
                if two_valued[ch]:
                    bits.put(0 if pixel[ch] == low[ch] else 1, 1)  # canonical: smaller symbol = 0
    payload = bits.data()
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# --------------------------------------------------------------------------------------------
# WAV


@functools.lru_cache(maxsize=16)
def wav(
    seconds: float = 1.0,
    *,
    rate: int = 16000,
    channels: int = 1,
    tones: tuple[float, ...] = (440.0, 660.0),
) -> bytes:
    """16-bit PCM WAV: ``tones`` (Hz) played one after the other in equal parts; silence when
    ``tones`` is empty."""
    if not (0 < seconds <= 600) or rate not in (8000, 16000, 22050, 24000, 44100, 48000) or channels not in (1, 2):
        raise ValueError(f"unsupported WAV parameters: {seconds=} {rate=} {channels=}")
    frames = round(seconds * rate)
    samples = bytearray()
    for n in range(frames):
        if tones:
            freq = tones[min(n * len(tones) // frames, len(tones) - 1)]
            value = round(12000 * math.sin(2 * math.pi * freq * n / rate))
        else:
            value = 0
        samples += struct.pack("<h", value) * channels
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# FLAC (verbatim subframes: valid, uncompressed)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC16_TABLE: list[int] = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ 0x8005) & 0xFFFF if _c & 0x8000 else (_c << 1) & 0xFFFF
    _CRC16_TABLE.append(_c)


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[(crc >> 8) ^ byte]
    return crc


def _flac_utf8(value: int) -> bytes:
    if value < 0x80:
        return bytes([value])
    for nbytes, lead in ((2, 0xC0), (3, 0xE0), (4, 0xF0), (5, 0xF8), (6, 0xFC)):
        if value < 1 << (5 * nbytes + 1):
            out = []
            for _ in range(nbytes - 1):
                out.append(0x80 | (value & 0x3F))
                value >>= 6
            return bytes([lead | value] + out[::-1])
    raise ValueError("frame number too large")


FLAC_BLOCK = 4096


def flac_from_wav(data: bytes) -> bytes:
    """Re-encode a 16-bit PCM WAV (as :func:`wav` makes) as FLAC with VERBATIM subframes."""
    with wave.open(io.BytesIO(data)) as src:
        channels, width, rate, frames = src.getnchannels(), src.getsampwidth(), src.getframerate(), src.getnframes()
        pcm = src.readframes(frames)
    if width != 2:
        raise ValueError("only 16-bit PCM is supported")
    samples = struct.unpack(f"<{frames * channels}h", pcm)
    rate_code = {8000: 0b0100, 16000: 0b0101, 22050: 0b0110, 24000: 0b0111, 44100: 0b1001, 48000: 0b1010}[rate]
    streaminfo = struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK) + b"\x00" * 6
    packed = (rate << 44) | ((channels - 1) << 41) | (15 << 36) | frames  # rate 20, ch 3, bps 5, total 36
    streaminfo += packed.to_bytes(8, "big") + hashlib.md5(pcm).digest()  # noqa: S324 - FLAC's checksum
    out = bytearray(b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo)
    for number, start in enumerate(range(0, frames, FLAC_BLOCK)):
        size = min(FLAC_BLOCK, frames - start)
        size_code = 0b1100 if size == FLAC_BLOCK else 0b0111
        header = bytes([0xFF, 0xF8, (size_code << 4) | rate_code, ((channels - 1) << 4) | (0b100 << 1)])
        header += _flac_utf8(number)
        if size_code == 0b0111:
            header += struct.pack(">H", size - 1)
        header += bytes([_crc8(header)])
        frame = bytearray(header)
        for ch in range(channels):
            frame.append(0b00000010)  # VERBATIM subframe, no wasted bits
            block = samples[start * channels + ch : (start + size) * channels : channels]
            frame += struct.pack(f">{size}h", *block)
        frame += struct.pack(">H", _crc16(bytes(frame)))
        out += frame
    return bytes(out)


@functools.lru_cache(maxsize=8)
def flac(seconds: float = 1.0, *, rate: int = 16000) -> bytes:
    """The :func:`wav` tone as FLAC (pure Python)."""
    return flac_from_wav(wav(seconds, rate=rate))


@functools.lru_cache(maxsize=8)
def mp3(seconds: float = 1.0) -> bytes:
    """The :func:`wav` tone as a 32 kbit/s MP3, through ``ffmpeg`` (libmp3lame)."""
    return _ffmpeg_convert(wav(seconds), "mp3", ["-c:a", "libmp3lame", "-b:a", "32k", "-write_xing", "0"])


def _ffmpeg_convert(data: bytes, fmt: str, codec_args: list[str]) -> bytes:
    reason = ffmpeg_missing()
    if reason:
        raise RuntimeError(reason)
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-threads", "1",
           "-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1", *codec_args, "-f", fmt, "pipe:1"]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:500]}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# MP4 through ffmpeg (optional)


def ffmpeg_missing() -> str | None:
    """Why MP4 media cannot be made here, or None when ``ffmpeg`` is on PATH."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not on PATH (Debian: apt-get install -y ffmpeg); MP4 media cannot be generated"
    return None


@functools.lru_cache(maxsize=8)
def mp4_clip(seconds: float = 1.0, *, audio: bool = False, size: int = 64, fps: int = 8) -> bytes:
    """An H.264 MP4 of ffmpeg's ``testsrc2`` pattern, with a 440 Hz AAC track when ``audio``.

    Deterministic for one ffmpeg build (bit-exact flags, one thread). Raises RuntimeError with
    :func:`ffmpeg_missing`'s reason when ffmpeg is absent."""
    reason = ffmpeg_missing()
    if reason:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory(prefix="llmconf-media-") as tmp:
        target = Path(tmp) / "clip.mp4"
        cmd = [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}x{size}:rate={fps}:duration={seconds}",
        ]
        if audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}"]
        cmd += ["-threads", "1", "-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"]
        if audio:
            cmd += ["-c:a", "aac", "-b:a", "32k", "-shortest"]
        cmd += ["-movflags", "+faststart", str(target)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
        return target.read_bytes()


# --------------------------------------------------------------------------------------------
# Data URIs


def data_uri(mime: str, data: bytes) -> str:
    """``data:<mime>;base64,<data>``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def b64(data: bytes) -> str:
    """Plain base64 (for OpenAI ``input_audio.data`` and Anthropic ``source.data``)."""
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------------
# The catalog of valid media


@dataclasses.dataclass(frozen=True, slots=True)
class Medium:
    key: str
    mime: str
    kind: str  # "image" | "audio" | "video"
    make: Callable[[], bytes] = dataclasses.field(repr=False, compare=False)
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    extension: str = ""

    @property
    def data(self) -> bytes:
        return self.make()

    @property
    def data_uri(self) -> str:
        return data_uri(self.mime, self.make())

    @property
    def filename(self) -> str:
        return f"{self.key}.{self.extension}"


def _image(key: str, fmt: str, w: int, h: int) -> Medium:
    encoders = {"png": png, "gif": gif, "jpeg": jpeg, "webp": webp}
    ext = {"jpeg": "jpg"}.get(fmt, fmt)
    return Medium(key, f"image/{fmt}", "image", functools.partial(encoders[fmt], w, h), w, h, extension=ext)


CATALOG: dict[str, Medium] = {
    m.key: m
    for m in (
        _image("png-1x1", "png", 1, 1),
        _image("png-64", "png", 64, 64),
        _image("png-224", "png", 224, 224),
        _image("png-448x224", "png", 448, 224),
        _image("png-large", "png", 2048, 1536),
        _image("jpeg-64", "jpeg", 64, 64),
        _image("jpeg-224", "jpeg", 224, 224),
        _image("gif-64", "gif", 64, 64),
        _image("gif-224", "gif", 224, 224),
        _image("webp-64", "webp", 64, 64),
        _image("webp-224", "webp", 224, 224),
        Medium("wav-1s", "audio/wav", "audio", functools.partial(wav, 1.0), seconds=1.0, extension="wav"),
        Medium("wav-3s", "audio/wav", "audio", functools.partial(wav, 3.0), seconds=3.0, extension="wav"),
        Medium("flac-1s", "audio/flac", "audio", functools.partial(flac, 1.0), seconds=1.0, extension="flac"),
        Medium("mp3-1s", "audio/mpeg", "audio", functools.partial(mp3, 1.0), seconds=1.0, extension="mp3"),
        Medium("mp4-1s", "video/mp4", "video", functools.partial(mp4_clip, 1.0), seconds=1.0, extension="mp4"),
        Medium(
            "mp4-1s-audio", "video/mp4", "video", functools.partial(mp4_clip, 1.0, audio=True),
            seconds=1.0, extension="mp4",
        ),
    )
}
"""Valid media by key. ``png-large`` is 2048x1536 (~0.5 s to make, then cached); the MP4 entries need
ffmpeg, and so does ``mp3-1s`` (check :func:`ffmpeg_missing` first)."""


# --------------------------------------------------------------------------------------------
# Hostile media


@dataclasses.dataclass(frozen=True, slots=True)
class Hostile:
    key: str
    description: str
    mime: str
    data: bytes
    uri: str  # the data URI to send (for the lying URIs, the lie is in here)


BOMB_SIDE = 100_000


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A PNG that declares ``side`` x ``side`` RGB pixels (30 GB at 100000) but carries only a few
    compressed rows of zeros: a decoder that allocates from the header alone is bombed."""
    raw = zlib.compress(b"\x00" * (1 + 3 * side) * 4, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def hostile() -> dict[str, Hostile]:
    """Every hostile input by key (fresh objects; cheap)."""
    good_png = png(64, 64)
    good_jpeg = jpeg(64, 64)
    good_wav = wav(1.0)
    items = [
        Hostile("png-truncated", "a 64x64 PNG cut in half (no IEND, IDAT short)", "image/png",
                good_png[: len(good_png) // 2], ""),
        Hostile("png-header-only", "only the 8-byte PNG signature", "image/png", PNG_SIGNATURE, ""),
        Hostile("jpeg-truncated", "a 64x64 JPEG cut in half (no EOI)", "image/jpeg",
                good_jpeg[: len(good_jpeg) // 2], ""),
        Hostile("wav-truncated", "a 1 s WAV cut after 30 bytes (inside the fmt chunk)", "audio/wav",
                good_wav[:30], ""),
        Hostile("empty-image", "an empty file labelled image/png", "image/png", b"", ""),
        Hostile("empty-audio", "an empty file labelled audio/wav", "audio/wav", b"", ""),
        Hostile("not-an-image", "ASCII text labelled image/png", "image/png",
                b"this is plain text, not an image\n" * 4, ""),
        Hostile("png-bomb", f"a {len(png_bomb())}-byte PNG declaring {BOMB_SIDE}x{BOMB_SIDE} pixels",
                "image/png", png_bomb(), ""),
    ]
    out = {h.key: dataclasses.replace(h, uri=data_uri(h.mime, h.data)) for h in items}
    lies = [
        Hostile("wrong-mime-text", "a valid PNG in a data URI labelled text/plain", "text/plain", good_png,
                data_uri("text/plain", good_png)),
        Hostile("wrong-mime-audio-for-image", "a valid PNG labelled audio/wav", "audio/wav", good_png,
                data_uri("audio/wav", good_png)),
        Hostile("wrong-mime-image-for-audio", "a valid WAV labelled image/png", "image/png", good_wav,
                data_uri("image/png", good_wav)),
        Hostile("not-base64", "a data URI whose payload is not base64", "image/png", b"",
                "data:image/png;base64,@@@ not base64 !!!"),
        Hostile("no-base64-marker", "a data URI without ';base64' (percent-encoded form)", "image/png",
                good_png[:16], "data:image/png," + good_png[:16].hex()),
    ]
    out.update({h.key: h for h in lies})
    return out
