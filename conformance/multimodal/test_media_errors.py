"""multimodal · rejection: media the endpoint must refuse, and the endpoint still serving afterwards.

* undecodable media (empty, not base64, text labelled as an image, a bare PNG signature, a PNG
  bomb, a non-media MIME type, a part without its data, an MP4 with no media data) → 4xx with the
  OpenAI error envelope, streamed too, never a 5xx or a hang (OAI-MM-006);
* damaged or mislabelled media (truncated PNG / JPEG / MP4 / MP3, a PNG labelled audio, a WAV
  labelled image) → 4xx, or a 200 that bills more prompt tokens than the text-only twin
  (OAI-MM-007; a 200 that bills fewer tokens than the intact medium is recorded as an
  observation: partly decoded, or only the media markers billed);
* media URLs that answer 404 / 500, refuse the connection or never answer (the suite's own media
  server) → 4xx within ``settings.media_fetch_timeout_s`` (default 60 s) (OAI-MM-008);
* a modality the endpoint does not take (its own statement, or the profile's
  ``input_modalities``) → 4xx, never a 5xx or a 200 that answers the text (OAI-MM-009, Messages:
  ANT-MM-004). These carry no ``media`` marker: they run with ``--media off`` too, because they
  are cheap (one 64x64 PNG, one 1 s WAV, one 1 s MP4, rejected before any prefill by a conforming
  server) and they are the only media tests that protect a text-only endpoint;
* unknown part types and other APIs' part types on chat → 4xx (OAI-MM-010);
* a bad Messages image block → 4xx with the Anthropic envelope (ANT-MM-002);
* last in this module: the endpoint still serves the text (and image) request it served before,
  billing the same prompt tokens (OAI-MM-011).

Param ids are the case names the profile's deviations list. Identical requests are shared between
tests (``reuse=True``); the text-only twin is the same request the acceptance tests (test_media_inputs.py) send.
"""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.harness import media
from conformance.harness import media_parts as mp
from conformance.harness import modalities as mm
from conformance.harness.checks import fail
from conformance.harness.checks import media_errors as checks
from conformance.harness.client import Timeouts
from conformance.harness.exchange import Exchange
from conformance.harness.failures import EndpointTimeout, TransportError
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.alone("hostile input: damaged media and unreachable URLs, then the endpoint must still serve")

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}
#: How long a media URL may take to be fetched or refused (profile setting ``media_fetch_timeout_s``).
DEFAULT_FETCH_TIMEOUT_S = 60.0
_NOT_BASE64 = "@@@ not base64 !!!"


# --- media made here ---------------------------------------------------------------------------


@functools.cache
def _hostile() -> dict[str, media.Hostile]:
    return media.hostile()


def _mp4_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the top-level boxes of an MP4."""
    out, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if size < 8:
            break
        out.append((kind, i, size))
        i += size
    return out


def mp4_header_only() -> bytes:
    """The ``ftyp`` box of the 1 s clip alone: an MP4 signature with no index and no media."""
    clip = media.mp4_clip(1.0)
    kind, offset, size = _mp4_boxes(clip)[0]
    assert kind == b"ftyp", kind
    return clip[offset:offset + size]


def mp4_truncated() -> bytes:
    """The 1 s clip cut a quarter of the way into its media data (``mdat``): the index (``moov``)
    is whole, the frames are not (an upload cut short)."""
    clip = media.mp4_clip(1.0)
    mdat = next((off, size) for kind, off, size in _mp4_boxes(clip) if kind == b"mdat")
    return clip[:mdat[0] + 8 + (mdat[1] - 8) // 4]


def mp3_truncated() -> bytes:
    """The 1 s MP3 cut after 1000 bytes."""
    return media.mp3(1.0)[:1000]


# --- cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    modality: str  # image | audio | video
    shape: str  # the media shape the part uses (modalities.SHAPES)
    part: Callable[[], dict[str, Any]]
    api: str = "chat"
    stream: bool = False
    ffmpeg: bool = False
    tier: str = "basic"
    intact: str | None = None  # catalog key of the undamaged medium (OAI-MM-007 observation)

    def param(self, *, gate: bool = True) -> Any:
        """``gate``: require the modality's capability (not for the "no modality" tests)."""
        needs = [mm.CAPABILITY[self.modality]] if gate else []
        needs += ["responses"] if self.api == "responses" else []
        needs += ["messages"] if self.api == "messages" else []
        needs += ["streaming"] if self.stream else []
        marks = [pytest.mark.requires(*needs)] if needs else []
        if gate:
            marks.append(pytest.mark.media(self.tier))
        return pytest.param(self, id=self.id, marks=marks)


def _image(key: str, *, stream: bool = False) -> Case:
    return Case(key + ("-stream" if stream else ""), "image", "image_url",
                lambda: mp.image_url(_hostile()[key].uri), stream=stream)


UNDECODABLE = [
    *(_image(k) for k in ("png-header-only", "empty-image", "not-an-image", "png-bomb", "not-base64",
                          "wrong-mime-text", "no-base64-marker")),
    _image("png-header-only", stream=True),
    Case("image-url-missing-url", "image", "image_url", lambda: {"type": "image_url", "image_url": {}}),
    Case("responses-not-an-image", "image", "input_image", lambda: mp.input_image(_hostile()["not-an-image"].uri),
         api="responses"),
    # input_audio with empty data (the hostile empty-audio: base64 of nothing is "")
    Case("empty-audio", "audio", "input_audio", lambda: mp.input_audio(_hostile()["empty-audio"].data)),
    Case("empty-audio-stream", "audio", "input_audio", lambda: mp.input_audio(_hostile()["empty-audio"].data),
         stream=True),
    Case("wav-truncated", "audio", "input_audio", lambda: mp.input_audio(_hostile()["wav-truncated"].data)),
    Case("input-audio-not-base64", "audio", "input_audio",
         lambda: {"type": "input_audio", "input_audio": {"data": _NOT_BASE64, "format": "wav"}}),
    Case("input-audio-missing-data", "audio", "input_audio",
         lambda: {"type": "input_audio", "input_audio": {"format": "wav"}}),
    Case("mp4-header-only", "video", "video_url", lambda: mp.video_url(media.data_uri("video/mp4", mp4_header_only())),
         ffmpeg=True),
]

DAMAGED = [
    Case("png-truncated", "image", "image_url", lambda: mp.image_url(_hostile()["png-truncated"].uri),
         intact="png-64"),
    Case("jpeg-truncated", "image", "image_url", lambda: mp.image_url(_hostile()["jpeg-truncated"].uri),
         intact="jpeg-64"),
    Case("wrong-mime-audio-for-image", "image", "image_url",
         lambda: mp.image_url(_hostile()["wrong-mime-audio-for-image"].uri), intact="png-64"),
    Case("wrong-mime-image-for-audio", "image", "image_url",
         lambda: mp.image_url(_hostile()["wrong-mime-image-for-audio"].uri), intact="wav-1s"),
    Case("mp4-truncated", "video", "video_url", lambda: mp.video_url(media.data_uri("video/mp4", mp4_truncated())),
         ffmpeg=True, intact="mp4-1s"),
    Case("mp3-truncated", "audio", "input_audio", lambda: mp.input_audio(mp3_truncated(), "mp3"),
         ffmpeg=True, tier="full", intact="mp3-1s"),
]

#: (case id, modality, shape, URL kind); the hang costs the endpoint's fetch timeout: image only.
URL_CASES = [
    *((f"image-url-{kind}", "image", "image_url", kind) for kind in ("404", "500", "refused", "hang")),
    *((f"video-url-{kind}", "video", "video_url", kind) for kind in ("404", "500", "refused")),
    *((f"audio-url-{kind}", "audio", "audio_url", kind) for kind in ("404", "500", "refused")),
]
_URL_NAMES = {"image": "image.png", "video": "clip.mp4", "audio": "clip.wav"}
_URL_PARTS = {"image_url": mp.image_url, "video_url": mp.video_url, "audio_url": mp.audio_url}

MISSING = [
    Case("image-url", "image", "image_url", lambda: mp.part("image_url", media.CATALOG["png-64"])),
    Case("image-url-stream", "image", "image_url", lambda: mp.part("image_url", media.CATALOG["png-64"]),
         stream=True),
    Case("responses-input-image", "image", "input_image", lambda: mp.part("input_image", media.CATALOG["png-64"]),
         api="responses"),
    Case("input-audio", "audio", "input_audio", lambda: mp.part("input_audio", media.CATALOG["wav-1s"])),
    Case("video-url", "video", "video_url", lambda: mp.part("video_url", media.CATALOG["mp4-1s"]), ffmpeg=True),
]
MISSING_MESSAGES = [
    Case("messages", "image", "anthropic_image", lambda: mp.part("anthropic_image", media.CATALOG["png-64"]),
         api="messages"),
    Case("messages-stream", "image", "anthropic_image", lambda: mp.part("anthropic_image", media.CATALOG["png-64"]),
         api="messages", stream=True),
]

UNKNOWN_PARTS = [
    pytest.param("hologram", lambda: {"type": "hologram", "hologram": {"url": "https://example.invalid/h.holo"}},
                 id="hologram"),
    pytest.param("input-image-on-chat", lambda: mp.input_image(media.CATALOG["png-64"].data_uri),
                 id="input-image-on-chat", marks=pytest.mark.media("basic")),
    pytest.param("anthropic-image-on-chat", lambda: mp.anthropic_image("image/png", media.CATALOG["png-64"].data),
                 id="anthropic-image-on-chat", marks=pytest.mark.media("basic")),
]

BAD_MESSAGES_IMAGES = [
    Case("png-truncated", "image", "anthropic_image",
         lambda: mp.anthropic_image("image/png", _hostile()["png-truncated"].data), api="messages"),
    Case("png-truncated-stream", "image", "anthropic_image",
         lambda: mp.anthropic_image("image/png", _hostile()["png-truncated"].data), api="messages", stream=True),
    Case("not-base64", "image", "anthropic_image", lambda: mp.anthropic_image("image/png", _NOT_BASE64),
         api="messages"),
    Case("not-an-image", "image", "anthropic_image",
         lambda: mp.anthropic_image("image/png", _hostile()["not-an-image"].data), api="messages"),
    Case("media-type-text-plain", "image", "anthropic_image",
         lambda: mp.anthropic_image("text/plain", media.CATALOG["png-64"].data), api="messages"),
]


# --- plumbing ----------------------------------------------------------------------------------


def _body(api: str, part: dict[str, Any]) -> dict[str, Any]:
    if api == "responses":
        return mp.responses_body(part)
    if api == "messages":
        return mp.messages_body(part)
    return mp.chat_body(part)


def _send(oai: Any, ant: Any, api: str, body: dict[str, Any], *, stream: bool = False,
          timeouts: Timeouts | None = None) -> Exchange:
    """POST ``body`` with the profile's defaults and no passive checks (shared between tests); a
    timeout or a dropped connection comes back as the recorded exchange (``Exchange.error``) for
    the check to judge, never as broken."""
    body = {**body, "stream": True} if stream else body
    body = ant.with_model(body) if api == "messages" else oai.with_defaults(api, body)
    raw = ant.raw if api == "messages" else oai.raw
    try:
        return raw("POST", PATHS[api], json_body=body, stream=stream, reuse=True, timeouts=timeouts)
    except (EndpointTimeout, TransportError):
        return oai.client.log[-1][0]


def _needs(case: Case, modalities: mm.Modalities) -> None:
    """Skip (with the evidence) a case the endpoint's declared shapes or this machine cannot serve."""
    if not modalities.has_shape(case.modality, case.shape):
        pytest.skip(f"the profile declares no '{case.shape}' shape for {case.modality} "
                    f"(settings.media_shapes: {list(modalities.shapes(case.modality))})")
    if case.ffmpeg and (reason := media.ffmpeg_missing()):
        pytest.skip(reason)


@dataclass
class Before:
    """What the endpoint billed before the bad requests of this module (OAI-MM-007, OAI-MM-011)."""

    text: int  # usage.prompt_tokens of the text-only chat twin
    image: int | None  # the same with a 64x64 PNG (None: no image, or --media off)


def _prompt_tokens(result: Any) -> int:
    usage = result.usage if isinstance(result.usage, dict) else {}
    value = usage.get("prompt_tokens")
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail("the text-only twin reports no usage.prompt_tokens", expected="integer",
                          actual=result.usage)
    return value


@pytest.fixture(scope="module")
def before(oai: Any, modalities: mm.Modalities) -> Before:
    """The text-only twin (and a valid 64x64 PNG request where images are taken), measured before
    this module's bad requests: shared with the acceptance tests through the facade's cache."""
    text = _prompt_tokens(oai.chat(mp.chat_body()))
    image = None
    if modalities.has_shape("image", "image_url") and mm.tier_allows(modalities.tier, "basic"):
        image = _prompt_tokens(oai.chat(mp.chat_body(mp.part("image_url", media.CATALOG["png-64"]))))
    return Before(text, image)


# --- OAI-MM-006 --------------------------------------------------------------------------------


@requirement("OAI-MM-006")
@pytest.mark.parametrize("case", [c.param() for c in UNDECODABLE])
def test_undecodable_media_is_rejected(oai, ant, schemas, modalities, before, case):
    _needs(case, modalities)
    ex = _send(oai, ant, case.api, _body(case.api, case.part()), stream=case.stream)
    checks.undecodable_media_rejected(ex, schemas=schemas, case=case.id)


# --- OAI-MM-007 --------------------------------------------------------------------------------


@requirement("OAI-MM-007")
@pytest.mark.parametrize("case", [c.param() for c in DAMAGED])
def test_damaged_media_is_rejected_or_counted(oai, ant, schemas, modalities, before, case):
    _needs(case, modalities)
    ex = _send(oai, ant, case.api, _body(case.api, case.part()))
    checks.damaged_media_rejected_or_counted(ex, schemas=schemas, text_tokens=before.text, case=case.id)
    damaged = checks.media_tokens_of(ex, text_tokens=before.text)
    if damaged is not None and case.intact is not None:
        intact = media.CATALOG[case.intact]
        shape = {"image": "image_url", "audio": "input_audio", "video": "video_url"}[intact.kind]
        if modalities.has_shape(intact.kind, shape):
            whole = _prompt_tokens(oai.chat(mp.chat_body(mp.part(shape, intact)))) - before.text
            if damaged < whole:
                oai.passive.observe("OAI-MM-007", f"{case.id}: the 200 bills {damaged} prompt tokens beyond the "
                                                  f"text, the intact {case.intact} {whole}: decoded in part, or "
                                                  f"only the media's markers billed")


# --- OAI-MM-008 --------------------------------------------------------------------------------


def _closed_port_url(host_url: str, name: str) -> str:
    """A URL on the media server's host at a port nothing listens on (bound, then closed)."""
    host = host_url.split("://", 1)[1].rsplit(":", 1)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1" if mm.loopback(host) else "", 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}/{name}"


def _url_case(case_id: str, modality: str, shape: str, kind: str) -> Any:
    return pytest.param(case_id, modality, shape, kind, id=case_id,
                        marks=[pytest.mark.requires(mm.CAPABILITY[modality]), pytest.mark.media("basic")])


@requirement("OAI-MM-008")
@pytest.mark.parametrize(("case_id", "modality", "shape", "kind"), [_url_case(*c) for c in URL_CASES])
def test_unreachable_media_url_is_rejected(oai, ant, schemas, profile, modalities, media_server, before,
                                           case_id, modality, shape, kind):
    if not modalities.has_shape(modality, shape):
        pytest.skip(f"the profile declares no '{shape}' shape for {modality} "
                    f"(settings.media_shapes: {list(modalities.shapes(modality))})")
    name = _URL_NAMES[modality]
    url = {"404": media_server.missing_url, "500": media_server.error_url, "hang": media_server.hang_url,
           "refused": lambda n: _closed_port_url(media_server.base_url, n)}[kind](name)
    limit = float(profile.setting("media_fetch_timeout_s", DEFAULT_FETCH_TIMEOUT_S))
    timeouts = Timeouts(connect_s=10.0, read_s=limit, stream_idle_s=limit, total_s=limit + 10.0)
    ex = _send(oai, ant, "chat", mp.chat_body(_URL_PARTS[shape](url)), timeouts=timeouts)
    checks.unreachable_media_url_rejected(ex, schemas=schemas, timeout_s=limit, case=case_id)


# --- OAI-MM-009 / ANT-MM-004: no such modality -------------------------------------------------


def _absent(modalities: mm.Modalities, modality: str) -> str:
    """Why the endpoint does not take ``modality``; skips when it does, or when nothing says."""
    if modalities.present(modality):
        pytest.skip(f"the endpoint takes {modality} (capability '{mm.CAPABILITY[modality]}' declared): "
                    f"OAI-MM-001 judges its media")
    reason = modalities.absent_reason(modality)
    if reason is None:
        pytest.skip(modalities.unknown_reason(modality))
    return reason


@requirement("OAI-MM-009")
@pytest.mark.parametrize("case", [c.param(gate=False) for c in MISSING])
def test_missing_modality_is_rejected(oai, ant, schemas, modalities, case):
    _absent(modalities, case.modality)
    if case.ffmpeg and (reason := media.ffmpeg_missing()):
        pytest.skip(reason)
    ex = _send(oai, ant, case.api, _body(case.api, case.part()), stream=case.stream)
    checks.missing_modality_rejected(ex, schemas=schemas, modality=case.modality, case=case.id)


@requirement("ANT-MM-004")
@pytest.mark.parametrize("case", [c.param(gate=False) for c in MISSING_MESSAGES])
def test_messages_image_without_vision_is_rejected(oai, ant, schemas, modalities, case):
    _absent(modalities, "image")
    ex = _send(oai, ant, "messages", _body("messages", case.part()), stream=case.stream)
    checks.messages_image_without_vision_rejected(ex, schemas=schemas, case=case.id)


# --- OAI-MM-010 --------------------------------------------------------------------------------


@requirement("OAI-MM-010")
@pytest.mark.parametrize(("case_id", "make"), UNKNOWN_PARTS)
def test_unknown_part_type_is_rejected(oai, ant, schemas, case_id, make):
    ex = _send(oai, ant, "chat", mp.chat_body(make()))
    checks.unknown_part_type_rejected(ex, schemas=schemas, case=case_id)


# --- ANT-MM-002 --------------------------------------------------------------------------------


@requirement("ANT-MM-002")
@pytest.mark.parametrize("case", [c.param() for c in BAD_MESSAGES_IMAGES])
def test_bad_messages_image_is_rejected(oai, ant, schemas, modalities, before, case):
    _needs(case, modalities)
    ex = _send(oai, ant, "messages", _body("messages", case.part()), stream=case.stream)
    checks.bad_messages_image_rejected(ex, schemas=schemas, case=case.id)


# --- OAI-MM-011: last in this module -----------------------------------------------------------


@requirement("OAI-MM-011")
def test_endpoint_still_serves_after_bad_media(oai, ant, before):
    """Fresh requests (not shared): the text twin, and the 64x64 PNG request where images are taken."""
    body = oai.with_defaults("chat", mp.chat_body())
    checks.serves_after_bad_media(oai.raw("POST", PATHS["chat"], json_body=body), before=before.text)
    if before.image is not None:
        body = oai.with_defaults("chat", mp.chat_body(mp.part("image_url", media.CATALOG["png-64"])))
        checks.serves_after_bad_media(oai.raw("POST", PATHS["chat"], json_body=body), before=before.image,
                                      what="64x64 PNG request")
