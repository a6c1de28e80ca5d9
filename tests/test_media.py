"""The generated test media are what they claim: each valid file has its format's magic bytes and
declared size and decodes to the shared pattern; each hostile one is broken in exactly the way its
description says. Structural checks use only the standard library; a full decode with Pillow runs
when Pillow is installed (``pip install -e '.[media]'``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import shutil
import struct
import subprocess
import tempfile
import wave
import zlib

import pytest

from conformance.harness import media

IMAGES = [m for m in media.CATALOG.values() if m.kind == "image"]


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == media.PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert len(body) == length and crc == zlib.crc32(kind + body), f"bad {kind!r} chunk"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def _dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from the header alone, per format (standard library only)."""
    if data.startswith(media.PNG_SIGNATURE):
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos < len(data):
            marker, length = struct.unpack(">HH", data[pos : pos + 4])
            if marker == 0xFFC0:
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return width, height
            pos += 2 + length
        raise AssertionError("no SOF0 segment")
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8L":
        assert data[20] == 0x2F
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise AssertionError(f"unknown format: {data[:16]!r}")


MAGIC = {
    "image/png": media.PNG_SIGNATURE,
    "image/gif": b"GIF89a",
    "image/jpeg": b"\xff\xd8\xff",
    "image/webp": b"RIFF",
}


@pytest.mark.parametrize("medium", IMAGES, ids=lambda m: m.key)
def test_image_has_magic_and_declared_size(medium):
    data = medium.data
    assert data.startswith(MAGIC[medium.mime])
    assert _dimensions(data) == (medium.width, medium.height)
    assert data == medium.make(), "generation is not deterministic"
    if medium.mime == "image/jpeg":
        assert data.endswith(b"\xff\xd9")
    if medium.mime == "image/gif":
        assert data.endswith(b"\x3b")
    if medium.mime == "image/webp":
        (riff_size,) = struct.unpack("<I", data[4:8])
        assert riff_size == len(data) - 8


@pytest.mark.parametrize("medium", [m for m in IMAGES if m.mime == "image/png"], ids=lambda m: m.key)
def test_png_decodes_to_the_pattern(medium):
    chunks = _png_chunks(medium.data)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == medium.height * (1 + 3 * medium.width)
    assert raw[:: 1 + 3 * medium.width] == b"\x00" * medium.height  # filter 0 on every row
    stride = 1 + 3 * medium.width
    for x, y in ((0, 0), (medium.width - 1, medium.height - 1), (medium.width // 2, medium.height // 3)):
        offset = y * stride + 1 + 3 * x
        assert tuple(raw[offset : offset + 3]) == media._pixel(x, y, medium.width, medium.height)


def test_catalog_has_the_required_variety():
    mimes = {m.mime for m in media.CATALOG.values()}
    assert {"image/png", "image/jpeg", "image/gif", "image/webp", "audio/wav", "video/mp4"} <= mimes
    assert any(m.width == m.height == 1 for m in IMAGES)
    assert max(m.width * m.height for m in IMAGES) >= 2048 * 1536


@pytest.mark.parametrize("medium", IMAGES, ids=lambda m: m.key)
def test_image_decodes_with_pillow(medium):
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is not installed (pip install -e '.[media]')")
    with image_module.open(io.BytesIO(medium.data)) as image:
        image.load()
        assert image.size == (medium.width, medium.height)
        rgb = image.convert("RGB")
    w, h = medium.width, medium.height
    for x, y in ((0, 0), (w - 1, h - 1), (w // 2, h // 3), (min(13, w - 1), min(2, h - 1))):
        if medium.mime == "image/webp":
            expected = media.webp_pixel(x, y)
        elif medium.mime == "image/gif":
            index = media.gif_palette_index(*media._pixel(x, y, w, h))
            expected = tuple(media._gif_palette()[3 * index : 3 * index + 3])
        else:
            expected = media._pixel(x, y, w, h)
        tolerance = 4 if medium.mime == "image/jpeg" else 0  # lossy
        got = rgb.getpixel((x, y))
        assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= tolerance, (x, y, got, expected)


def test_wav_is_16khz_mono_pcm_of_the_declared_length():
    for key in ("wav-1s", "wav-3s"):
        medium = media.CATALOG[key]
        with wave.open(io.BytesIO(medium.data)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
            assert wav.getnframes() == round(medium.seconds * 16000)
            samples = struct.unpack(f"<{wav.getnframes()}h", wav.readframes(wav.getnframes()))
        assert max(samples) > 10000 and min(samples) < -10000  # a tone, not silence
    with wave.open(io.BytesIO(media.wav(0.5, tones=()))) as wav:
        assert set(wav.readframes(wav.getnframes())) == {0}


def test_wav_rejects_unsupported_parameters():
    with pytest.raises(ValueError):
        media.wav(0)
    with pytest.raises(ValueError):
        media.wav(1.0, rate=12345)


def test_image_size_is_validated():
    with pytest.raises(ValueError):
        media.png(0, 5)
    with pytest.raises(ValueError):
        media.webp(1 << 15, 1)


def test_data_uri_round_trips():
    medium = media.CATALOG["png-1x1"]
    uri = medium.data_uri
    head, payload = uri.split(",", 1)
    assert head == "data:image/png;base64"
    assert base64.b64decode(payload, validate=True) == medium.data
    assert media.b64(b"\x00\xff") == "AP8="


def test_hostile_media_are_broken_as_described():
    h = media.hostile()
    png64, jpeg64, wav1 = media.png(64, 64), media.jpeg(64, 64), media.wav(1.0)
    # truncated: a strict prefix of a valid file, missing its end marker
    assert png64.startswith(h["png-truncated"].data) and b"IEND" not in h["png-truncated"].data
    with pytest.raises(zlib.error):
        zlib.decompress(h["png-truncated"].data[41:])  # the IDAT payload is cut
    assert h["png-header-only"].data == media.PNG_SIGNATURE
    assert jpeg64.startswith(h["jpeg-truncated"].data) and not h["jpeg-truncated"].data.endswith(b"\xff\xd9")
    with pytest.raises((wave.Error, EOFError)):
        wave.open(io.BytesIO(h["wav-truncated"].data)).getnframes()
    assert wav1.startswith(h["wav-truncated"].data)
    assert h["empty-image"].data == h["empty-audio"].data == b""
    assert h["empty-image"].uri == "data:image/png;base64,"
    assert not any(h["not-an-image"].data.startswith(m) for m in MAGIC.values())
    # the bomb: tiny, valid chunks, declares 100000 x 100000
    bomb = h["png-bomb"].data
    assert len(bomb) < 4096
    assert _dimensions(bomb) == (media.BOMB_SIDE, media.BOMB_SIDE)
    chunks = _png_chunks(bomb)
    assert len(zlib.decompress(chunks[1][1])) < media.BOMB_SIDE * (1 + 3 * media.BOMB_SIDE)
    # lying URIs: the payload is valid, the label is not
    assert h["wrong-mime-text"].uri.startswith("data:text/plain;base64,")
    assert base64.b64decode(h["wrong-mime-text"].uri.split(",", 1)[1]) == png64
    assert h["wrong-mime-audio-for-image"].uri.startswith("data:audio/wav;base64,")
    assert base64.b64decode(h["wrong-mime-image-for-audio"].uri.split(",", 1)[1]).startswith(b"RIFF")
    assert h["wrong-mime-image-for-audio"].uri.startswith("data:image/png;base64,")
    with pytest.raises(binascii.Error):
        base64.b64decode(h["not-base64"].uri.split(",", 1)[1], validate=True)
    assert ";base64," not in h["no-base64-marker"].uri


def test_mp4_needs_ffmpeg_or_says_why():
    reason = media.ffmpeg_missing()
    if reason is not None:
        assert "ffmpeg" in reason
        with pytest.raises(RuntimeError, match="ffmpeg"):
            media.mp4_clip(1.0)
        pytest.skip(reason)
    for audio in (False, True):
        clip = media.mp4_clip(1.0, audio=audio)
        assert clip[4:8] == b"ftyp"
        assert b"avc1" in clip
        assert (b"mp4a" in clip) is audio
        if shutil.which("ffprobe"):
            with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
                fh.write(clip)
                fh.flush()
                probe = subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration",
                     "-of", "json", fh.name],
                    capture_output=True, text=True, timeout=60, check=True,
                )
            info = json.loads(probe.stdout)
            kinds = sorted(s["codec_type"] for s in info["streams"])
            assert kinds == (["audio", "video"] if audio else ["video"])
            assert abs(float(info["format"]["duration"]) - 1.0) < 0.2


def test_flac_holds_the_wav_samples():
    data = media.CATALOG["flac-1s"].data
    pcm_wav = media.wav(1.0)
    with wave.open(io.BytesIO(pcm_wav)) as wav:
        pcm = wav.readframes(wav.getnframes())
        frames = wav.getnframes()
    assert data[:4] == b"fLaC" and data[4] == 0x80  # last metadata block, STREAMINFO
    assert int.from_bytes(data[5:8], "big") == 34
    info = data[8:42]
    packed = int.from_bytes(info[10:18], "big")
    assert (packed >> 44, ((packed >> 41) & 7) + 1, ((packed >> 36) & 31) + 1, packed & (2**36 - 1)) == (
        16000, 1, 16, frames)
    assert info[18:34] == hashlib.md5(pcm).digest()  # noqa: S324 - FLAC's own checksum
    # walk the frames: sync code, VERBATIM subframe, samples equal the WAV's, big-endian
    pos, decoded = 42, bytearray()
    while pos < len(data):
        assert data[pos : pos + 2] == b"\xff\xf8"
        size_code = data[pos + 2] >> 4
        header_len = 5 if size_code == 0b1100 else 7  # frame numbers here are < 128: one byte
        size = 4096 if size_code == 0b1100 else struct.unpack(">H", data[pos + 5 : pos + 7])[0] + 1
        sub = pos + header_len + 1  # + CRC-8
        assert data[sub] == 0b00000010
        samples = struct.unpack(f">{size}h", data[sub + 1 : sub + 1 + 2 * size])
        decoded += struct.pack(f"<{size}h", *samples)
        pos = sub + 1 + 2 * size + 2  # + CRC-16
    assert bytes(decoded) == pcm


def _ffmpeg_decode(data: bytes, fmt: str) -> bytes:
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", fmt, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"],
        input=data, capture_output=True, timeout=60, check=False,
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr  # a CRC error would be reported here
    return proc.stdout


def test_flac_and_mp3_decode_with_ffmpeg():
    reason = media.ffmpeg_missing()
    if reason is not None:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            media.mp3.__wrapped__(1.0)
        pytest.skip(reason)
    with wave.open(io.BytesIO(media.wav(1.0))) as wav:
        pcm = wav.readframes(wav.getnframes())
    assert _ffmpeg_decode(media.CATALOG["flac-1s"].data, "flac") == pcm
    mp3 = media.CATALOG["mp3-1s"].data
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3")
    assert mp3 == media.mp3.__wrapped__(1.0), "MP3 generation is not deterministic"
    decoded = _ffmpeg_decode(mp3, "mp3")
    assert abs(len(decoded) - len(pcm)) < 0.1 * len(pcm)  # lossy, with encoder padding
