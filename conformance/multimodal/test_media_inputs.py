"""multimodal · valid media is accepted and counted (issue 10 §3).

For every modality the endpoint declares (capabilities ``vision`` / ``audio`` / ``video``) and every
request shape its family uses (``settings.media_shapes``, :meth:`Modalities.shapes`):

* OAI-MM-001: a valid media request — by data URI, streamed and not; ``image_url`` also with
  ``detail: "low"``, by URL (the suite's media server) and in JPEG / GIF / WebP; Responses
  ``input_image``; ``input_audio`` (OpenAI) or ``audio_url`` (NIM); ``video_url`` — is answered 200
  with a schema-valid response or stream;
* OAI-MM-002: each blocking media request bills more prompt tokens than its text-only twin;
* OAI-MM-003: two images bill more than one (full tier: six more than two, a 2048x1536 PNG no
  fewer than a 64x64 one);
* OAI-MM-004: streamed (``stream_options.include_usage``) and blocking bill the same (image, audio,
  video on chat; Responses; Messages);
* OAI-MM-005: ``prompt_tokens_details.{image,audio}_tokens`` consistent where reported;
* OAI-MM-012: an image in turn 1 of a conversation is billed in turn 3;
* NIM-MM-001 / NIM-MM-002: ``media_io_kwargs`` frame counts and ``use_audio_in_video`` (only
  where the profile declares ``media_io_kwargs`` / ``audio_in_video``);
* ANT-MM-001 / ANT-MM-003: a Messages ``image`` block (base64) is answered and billed
  (``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``: a prefix cache splits
  the prompt), and ``count_tokens`` counts it the way Messages bills it.

Judged on the wire only (status, schema, usage), never on what the model says: a random-weight
projector or a model that reasons by default (content may be empty at 8 tokens) are fine.

**Cost.** Every request earns its tokens: the requests are built identically wherever they recur,
so the facades' reuse cache sends each one once per session — OAI-MM-002/004/005 and ANT-MM-003
read the answers OAI-MM-001 and ANT-MM-001 got, and one text-only twin per API is the baseline of
every count. Tiny media (64x64 images, 1 s clips), ``max_tokens`` 8 (Responses: 16, the spec's
minimum). Audio is the expensive modality (~3.5 s of prefill per clip on the reference), so only
WAV is sent in the basic tier; FLAC, MP3, the 1x1 and 2048x1536 PNGs, the MP4 with an audio track
and the six-image request are ``--media full``. MP3 and MP4 need ``ffmpeg``: those cases skip
saying so when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conformance.harness import media
from conformance.harness import media_parts as mp
from conformance.harness.checks import media as checks
from conformance.harness.exchange import Exchange
from conformance.harness.failures import ConformanceFailure
from conformance.harness.modalities import CAPABILITY
from conformance.harness.requirements import requirement

pytestmark = pytest.mark.media("basic")

#: The API each shape is sent through.
API = {"image_url": "chat", "input_audio": "chat", "audio_url": "chat", "video_url": "chat",
       "input_image": "responses", "anthropic_image": "messages"}
_API_CAPS = {"chat": (), "responses": ("responses",), "messages": ("messages",)}
#: The follow-up turn of the multi-turn conversation (OAI-MM-012).
FOLLOW_UP = "And what colour dominates it? One word."
#: NIM-MM-001: the frame settings compared (the clip is 1 s at 8 fps: fps 4 samples 4 frames).
FPS = 4
FEW_FRAMES = 2
MANY_FRAMES = 4


@dataclass(frozen=True, slots=True)
class Case:
    shape: str
    key: str
    stream: bool = False
    variant: str = ""  # "" (data URI), "detail-low", "url"
    tier: str = "basic"

    @property
    def api(self) -> str:
        return API[self.shape]

    @property
    def modality(self) -> str:
        return media.CATALOG[self.key].kind

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.shape, self.key, self.variant, "stream" if self.stream else "") if p)

    def blocking(self) -> Case:
        return Case(self.shape, self.key, False, self.variant, self.tier)


def _param(case: Case) -> Any:
    needs = (CAPABILITY[case.modality], *_API_CAPS[case.api], *(("streaming",) if case.stream else ()))
    marks = [pytest.mark.requires(*needs)]
    if case.tier == "full":
        marks.append(pytest.mark.media("full"))
    return pytest.param(case, id=case.id, marks=marks)


ACCEPTED = [
    Case("image_url", "png-64"),
    Case("image_url", "png-64", stream=True),
    Case("image_url", "png-64", variant="detail-low"),
    Case("image_url", "png-64", variant="url"),
    Case("image_url", "jpeg-64"),
    Case("image_url", "gif-64"),
    Case("image_url", "webp-64"),
    Case("image_url", "png-1x1", tier="full"),
    Case("image_url", "png-large", tier="full"),
    Case("input_image", "png-64"),
    Case("input_image", "png-64", stream=True),
    Case("input_audio", "wav-1s"),
    Case("input_audio", "wav-1s", stream=True),
    Case("input_audio", "flac-1s", tier="full"),
    Case("input_audio", "mp3-1s", tier="full"),
    Case("audio_url", "wav-1s"),
    Case("audio_url", "wav-1s", stream=True),
    Case("audio_url", "flac-1s", tier="full"),
    Case("video_url", "mp4-1s"),
    Case("video_url", "mp4-1s", stream=True),
    Case("video_url", "mp4-1s-audio", tier="full"),
]
#: One streamed/blocking pair per modality and API (OAI-MM-004).
PAIRS = [Case("image_url", "png-64", stream=True), Case("input_audio", "wav-1s", stream=True),
         Case("audio_url", "wav-1s", stream=True), Case("video_url", "mp4-1s", stream=True),
         Case("input_image", "png-64", stream=True), Case("anthropic_image", "png-64", stream=True)]
#: The media request whose usage details are judged, per modality (OAI-MM-005; first declared shape).
DETAIL_CASES = {"image": (Case("image_url", "png-64"),),
                "audio": (Case("input_audio", "wav-1s"), Case("audio_url", "wav-1s"))}


# --- sending ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sent:
    """What one request got: the subject OAI-MM-001 judges (the Exchange of a blocking answer or of
    a failed request, or the parsed stream), the usage the count checks read (the failed Exchange
    itself when the request failed, so they judge the failure) and the facade's failure, if any."""

    subject: Any
    usage: Any
    failure: ConformanceFailure | None = None

    def reraise(self) -> None:
        if self.failure is not None:
            raise self.failure


def _last_exchange(oai: Any) -> Exchange:
    """The exchange the client recorded last (the facade records reused exchanges too)."""
    return oai.client.log[-1][0]


def _body(api: str, *parts: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    make = {"chat": mp.chat_body, "responses": mp.responses_body, "messages": mp.messages_body}[api]
    return {**make(*parts), **(extra or {})}


def _send(oai: Any, ant: Any, api: str, body: dict[str, Any], *, stream: bool = False) -> Sent:
    """Send through the facade (passive checks, reuse cache: an identical request is sent once per
    session). A chat stream asks for usage when the profile declares ``stream_usage``."""
    try:
        if api == "chat" and stream:
            if oai.passive.profile.has("stream_usage"):
                body = {**body, "stream_options": {"include_usage": True}}
            s = oai.chat_stream(body)
            return Sent(s, s.final_usage())
        if api == "chat":
            result = oai.chat(body)
            return Sent(result.exchange, result.usage)
        if api == "responses" and stream:
            s = oai.responses_stream(body)
            return Sent(s, (s.final_response() or {}).get("usage"))
        if api == "responses":
            ex, parsed = oai.responses(body)
            return Sent(ex, parsed.get("usage"))
        if stream:
            s = ant.messages_stream(body)
            return Sent(s, (s.final_message() or {}).get("usage"))
        ex, parsed = ant.messages(body)
        return Sent(ex, parsed.get("usage"))
    except ConformanceFailure as exc:  # an error status: the facade recorded it; the test's check judges it
        ex = _last_exchange(oai)
        return Sent(ex, ex, exc)


def _text_twin(oai: Any, ant: Any, api: str) -> Sent:
    """The text-only twin of every media request of ``api`` (one per API per session)."""
    return _send(oai, ant, api, _body(api))


def _require_shape(modalities: Any, modality: str, shape: str) -> None:
    if not modalities.present(modality):
        raise pytest.skip.Exception(f"capability '{CAPABILITY[modality]}' not declared for this endpoint")
    if not modalities.has_shape(modality, shape):
        raise pytest.skip.Exception(
            f"the profile declares {modality} shapes {list(modalities.shapes(modality))}, not {shape!r} "
            f"(settings.media_shapes)")


def _require_media(key: str, modalities: Any = None) -> None:
    if key.startswith(("mp4", "mp3")) and (why := media.ffmpeg_missing()):
        raise pytest.skip.Exception(f"{key}: {why}")
    if modalities is not None and (why := modalities.format_reason(media.CATALOG[key])) is not None:
        raise pytest.skip.Exception(f"{key}: {why}")  # e.g. WebP on a NIM that lists GIF/JPEG/PNG


def _media_part(request: pytest.FixtureRequest, case: Case) -> dict[str, Any]:
    medium = media.CATALOG[case.key]
    if case.variant == "url":
        srv = request.getfixturevalue("media_server")  # skips when the endpoint cannot reach it
        return mp.part(case.shape, medium, url=srv.url(case.key))
    if case.variant == "detail-low":
        return mp.image_url(medium.data_uri, detail="low")
    return mp.part(case.shape, medium)


def _send_case(request: pytest.FixtureRequest, oai: Any, ant: Any, modalities: Any, case: Case) -> Sent:
    """The request of ``case`` (skipped when its shape is not declared or its media cannot be made)."""
    _require_shape(modalities, case.modality, case.shape)
    _require_media(case.key, modalities)
    return _send(oai, ant, case.api, _body(case.api, _media_part(request, case)), stream=case.stream)


# --- OAI-MM-001 / OAI-MM-002: accepted and counted ------------------------------------------------


@requirement("OAI-MM-001")
@pytest.mark.parametrize("case", [_param(c) for c in ACCEPTED])
def test_valid_media_request_is_answered(request, oai, ant, schemas, modalities, case):
    sent = _send_case(request, oai, ant, modalities, case)
    checks.media_request_answered(sent.subject, api=case.api, schemas=schemas)
    sent.reraise()


@requirement("OAI-MM-002")
@pytest.mark.parametrize("case", [_param(c) for c in ACCEPTED if not c.stream])
def test_media_is_counted_in_prompt_tokens(request, oai, ant, modalities, case):
    sent = _send_case(request, oai, ant, modalities, case)
    text = _text_twin(oai, ant, case.api)
    checks.media_counted(sent.usage, text.usage, api=case.api)
    sent.reraise()
    text.reraise()


# --- OAI-MM-003: every item counted --------------------------------------------------------------

SIX = ("png-64", "png-224", "jpeg-64", "gif-64", "webp-64", "png-448x224")
#: id → (more media, fewer media, allow_equal, tier)
ITEMS = {
    "two-vs-one": (("png-64", "png-224"), ("png-64",), False, "basic"),
    "six-vs-two": (SIX, ("png-64", "png-224"), False, "full"),
    "large-vs-small": (("png-large",), ("png-64",), True, "full"),
}


@requirement("OAI-MM-003")
@pytest.mark.requires("vision")
@pytest.mark.parametrize("item", [pytest.param(k, id=k, marks=[pytest.mark.media(v[3])] if v[3] == "full" else [])
                                  for k, v in ITEMS.items()])
def test_every_media_item_is_counted(oai, ant, modalities, item):
    more_keys, fewer_keys, allow_equal, _ = ITEMS[item]
    _require_shape(modalities, "image", "image_url")
    for key in (*more_keys, *fewer_keys):
        _require_media(key, modalities)
    more = _send(oai, ant, "chat", _body("chat", *(mp.part("image_url", media.CATALOG[k]) for k in more_keys)))
    fewer = _send(oai, ant, "chat", _body("chat", *(mp.part("image_url", media.CATALOG[k]) for k in fewer_keys)))
    checks.every_item_counted(more.usage, fewer.usage, more_what=f"{' + '.join(more_keys)} in one message",
                              fewer_what=" + ".join(fewer_keys), allow_equal=allow_equal)
    more.reraise()
    fewer.reraise()


# --- OAI-MM-004: streamed == blocking ------------------------------------------------------------


def _pair_param(case: Case) -> Any:
    needs = [CAPABILITY[case.modality], *_API_CAPS[case.api], "streaming"]
    if case.api == "chat":
        needs.append("stream_usage")  # a chat stream reports usage only when asked (and supported)
    return pytest.param(case, id=case.blocking().id, marks=[pytest.mark.requires(*needs)])


@requirement("OAI-MM-004")
@pytest.mark.parametrize("case", [_pair_param(c) for c in PAIRS])
def test_streamed_media_request_bills_like_blocking(request, oai, ant, modalities, case):
    streamed = _send_case(request, oai, ant, modalities, case)
    blocking = _send_case(request, oai, ant, modalities, case.blocking())
    checks.stream_bills_like_blocking(streamed.usage, blocking.usage, api=case.api)
    streamed.reraise()
    blocking.reraise()


# --- OAI-MM-005: prompt_tokens_details ----------------------------------------------------------


@requirement("OAI-MM-005")
@pytest.mark.parametrize("modality", [pytest.param(m, id=m, marks=[pytest.mark.requires(CAPABILITY[m])])
                                      for m in DETAIL_CASES])
def test_prompt_token_details_are_consistent(request, oai, ant, modalities, modality):
    declared = [c for c in DETAIL_CASES[modality] if modalities.has_shape(modality, c.shape)]
    if not declared:
        _require_shape(modalities, modality, DETAIL_CASES[modality][0].shape)  # skips, naming the shapes
    case = declared[0]
    sent = _send_case(request, oai, ant, modalities, case)
    sent.reraise()  # OAI-MM-001 judges a failed media request; nothing to read details from
    text = _text_twin(oai, ant, "chat")
    text.reraise()
    field = checks.DETAIL_FIELDS[modality]
    if field not in checks.reported_details(sent.usage):
        details = sent.usage.get("prompt_tokens_details") if isinstance(sent.usage, dict) else None
        pytest.skip(f"the endpoint reports no prompt_tokens_details.{field} (the optional field is absent from "
                    f"the usage of the {case.id} request: prompt_tokens_details {details!r})")
    checks.prompt_token_details_consistent(sent.usage, sent=[modality])
    checks.prompt_token_details_consistent(text.usage, sent=[])


# --- OAI-MM-012: media in the history ------------------------------------------------------------


def _conversation(*image_parts: dict[str, Any]) -> dict[str, Any]:
    first = mp.chat_body(*image_parts)["messages"][0]
    return {"messages": [first, {"role": "assistant", "content": "A small checkered gradient."},
                         {"role": "user", "content": FOLLOW_UP}], "max_tokens": 8, "temperature": 0}


@requirement("OAI-MM-012")
def test_media_in_history_is_counted(oai, ant, modalities):
    _require_shape(modalities, "image", "image_url")
    with_image = _send(oai, ant, "chat", _conversation(mp.part("image_url", media.CATALOG["png-64"])))
    without = _send(oai, ant, "chat", _conversation())
    checks.history_media_counted(with_image.usage, without.usage)
    with_image.reraise()
    without.reraise()


# --- NIM-MM-001 / NIM-MM-002: the NIM video controls -----------------------------------------------


def _video(oai: Any, ant: Any, key: str, extra: dict[str, Any]) -> Sent:
    return _send(oai, ant, "chat", _body("chat", mp.part("video_url", media.CATALOG[key]), extra=extra))


def _frames(fps: float, num_frames: int) -> dict[str, Any]:
    return {"media_io_kwargs": {"video": {"fps": fps, "num_frames": num_frames}}}


@requirement("NIM-MM-001")
def test_media_io_kwargs_frame_controls_are_honoured(oai, ant, modalities):
    _require_shape(modalities, "video", "video_url")
    _require_media("mp4-1s")
    many = _video(oai, ant, "mp4-1s", _frames(-1, MANY_FRAMES))
    few = _video(oai, ant, "mp4-1s", _frames(-1, FEW_FRAMES))
    checks.more_frames_billed_more(many.usage, few.usage, more=MANY_FRAMES, fewer=FEW_FRAMES)
    by_fps = _video(oai, ant, "mp4-1s", _frames(FPS, -1))
    both = _video(oai, ant, "mp4-1s", _frames(FPS, FEW_FRAMES))
    checks.larger_frame_count_wins(both.usage, by_fps.usage, few.usage, fps=FPS, num_frames=FEW_FRAMES)
    for sent in (many, few, by_fps, both):
        sent.reraise()


@requirement("NIM-MM-002")
def test_use_audio_in_video_counts_the_audio_track(oai, ant, modalities):
    _require_shape(modalities, "video", "video_url")
    _require_media("mp4-1s-audio")
    with_audio = _video(oai, ant, "mp4-1s-audio", {"mm_processor_kwargs": {"use_audio_in_video": True}})
    without = _video(oai, ant, "mp4-1s-audio", {})
    checks.audio_in_video_counted(with_audio.usage, without.usage)
    with_audio.reraise()
    without.reraise()


# --- ANT-MM-001 / ANT-MM-003: Messages image blocks --------------------------------------------------


def _messages_image(oai: Any, ant: Any, *, stream: bool = False) -> Sent:
    return _send(oai, ant, "messages", _body("messages", mp.part("anthropic_image", media.CATALOG["png-64"])),
                 stream=stream)


@requirement("ANT-MM-001")
@pytest.mark.parametrize("stream", [pytest.param(False, id="blocking"),
                                    pytest.param(True, id="stream", marks=[pytest.mark.requires("streaming")])])
def test_messages_image_block_is_accepted_and_counted(oai, ant, schemas, modalities, stream):
    _require_shape(modalities, "image", "anthropic_image")
    sent = _messages_image(oai, ant, stream=stream)
    checks.messages_image_answered(sent.subject, schemas=schemas)
    text = _text_twin(oai, ant, "messages")
    checks.messages_image_counted(sent.usage, text.usage)
    sent.reraise()
    text.reraise()


@requirement("ANT-MM-003")
@pytest.mark.requires("messages")
def test_count_tokens_counts_the_image_like_messages(oai, ant, modalities):
    _require_shape(modalities, "image", "anthropic_image")
    image_body = _body("messages", mp.part("anthropic_image", media.CATALOG["png-64"]))
    counts = []
    for body in (image_body, _body("messages")):
        try:
            counts.append(ant.count_tokens({"messages": body["messages"]})[1])
        except ConformanceFailure:
            counts.append(_last_exchange(oai))
    billed = _messages_image(oai, ant)
    checks.count_tokens_counts_image(counts[0], counts[1], billed.usage)
    billed.reraise()
