"""The rejection checks of issue 10 (conformance.harness.checks.media_errors) on what the JSON
fixtures cannot express -- a media URL that never answers, recorded as a timeout; an answer after
the fetch timeout; a connection dropped mid-request -- plus the plumbing of
conformance/multimodal/test_media_errors.py: the MP4 damage it makes, the closed-port URL, and the
profiles' deviations naming case ids and failure shapes that really occur."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from conformance.harness import media, outcomes, profiles
from conformance.harness.checks import media_errors as checks
from conformance.harness.failures import ConformanceFailure, EndpointTimeout, TransportError
from conformance.multimodal import test_media_errors as module
from tests.check_fixtures import mock_exchange, recorded_after, schema_set

SCHEMAS = schema_set(("compat",))
LLAMA_500 = b'{"error":{"code":500,"message":"Invalid base64 value","type":"server_error"}}'


def _recorded_after(handler, exc_type, *, timeouts=None):
    """Send through the real client; return the exchange it recorded when it raised (what
    ``test_media_errors._send`` hands to the check)."""
    return recorded_after(handler, exc_type, timeouts=timeouts)


def test_a_media_url_that_never_answers_is_a_violation_not_broken():
    async def hang(request):  # noqa: ARG001
        await asyncio.sleep(5)
        return httpx.Response(400)

    ex = _recorded_after(hang, EndpointTimeout)
    assert ex.status is None and ex.error
    with pytest.raises(ConformanceFailure) as info:
        checks.unreachable_media_url_rejected(ex, schemas=SCHEMAS, timeout_s=0.3, case="image-url-hang")
    assert info.value.requirement == "OAI-MM-008"
    assert "an unreachable media URL (image-url-hang) got no answer within 0.3 s" in str(info.value)


def test_a_connection_dropped_on_bad_media_is_a_violation():
    def drop(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    ex = _recorded_after(drop, TransportError)
    with pytest.raises(ConformanceFailure, match="got no answer"):
        checks.undecodable_media_rejected(ex, schemas=SCHEMAS, case="png-bomb")


def test_an_answer_after_the_fetch_timeout_is_a_violation():
    ex = mock_exchange(status=400, headers={"content-type": "application/json"},
                       body=b'{"error": {"message": "download failed", "type": "invalid_request_error", '
                            b'"param": null, "code": null}}')
    checks.unreachable_media_url_rejected(ex, schemas=SCHEMAS, timeout_s=60)  # answered at once: fine
    ex.ttfb_s = 75.0
    with pytest.raises(ConformanceFailure, match="was answered only after 75.0 s"):
        checks.unreachable_media_url_rejected(ex, schemas=SCHEMAS, timeout_s=60)


def test_media_tokens_of():
    ok = mock_exchange(headers={"content-type": "application/json"},
                       body=b'{"usage": {"prompt_tokens": 55, "completion_tokens": 8}}')
    assert checks.media_tokens_of(ok, text_tokens=52) == 3
    bad = mock_exchange(status=400, headers={"content-type": "application/json"}, body=b'{"error": {}}')
    assert checks.media_tokens_of(bad, text_tokens=52) is None


# --- the test module's media and cases ----------------------------------------------------------


@pytest.mark.skipif(media.ffmpeg_missing() is not None, reason=str(media.ffmpeg_missing()))
def test_mp4_damage_is_what_it_says():
    clip = media.mp4_clip(1.0)
    head = module.mp4_header_only()
    assert clip.startswith(head) and [b[0] for b in module._mp4_boxes(head)] == [b"ftyp"]
    cut = module.mp4_truncated()
    kinds = [b[0] for b in module._mp4_boxes(clip)]
    assert b"moov" in kinds and kinds.index(b"moov") < kinds.index(b"mdat")  # the index comes first
    mdat_off, mdat_size = next((o, s) for k, o, s in module._mp4_boxes(clip) if k == b"mdat")
    assert clip.startswith(cut) and mdat_off + 8 < len(cut) < mdat_off + mdat_size // 2


def test_closed_port_url_refuses():
    url = module._closed_port_url("http://127.0.0.1:8123", "image.png")
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    assert host == "127.0.0.1" and url.endswith("/image.png")
    import socket

    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect((host, int(port)))


def _ids(cases) -> list[str]:
    return [c.id if isinstance(c, module.Case) else c[0] for c in cases]


CITED = {  # requirement -> the case ids of the test that cites it
    "OAI-MM-006": _ids(module.UNDECODABLE),
    "OAI-MM-007": _ids(module.DAMAGED),
    "OAI-MM-008": _ids(module.URL_CASES),
    "OAI-MM-009": _ids(module.MISSING),
    "ANT-MM-004": _ids(module.MISSING_MESSAGES),
    "ANT-MM-002": _ids(module.BAD_MESSAGES_IMAGES),
}


@pytest.mark.parametrize("rid", sorted(CITED))
def test_case_ids_are_unique(rid):
    assert len(set(CITED[rid])) == len(CITED[rid])


def _judged(rid: str, case: str, *, status: int, body: bytes) -> ConformanceFailure:
    """The failure the check of ``rid`` raises for one answer in ``case``."""
    ex = mock_exchange(status=status, headers={"content-type": "application/json"}, body=body)
    fn = {"OAI-MM-006": lambda: checks.undecodable_media_rejected(ex, schemas=SCHEMAS, case=case),
          "OAI-MM-008": lambda: checks.unreachable_media_url_rejected(ex, schemas=SCHEMAS, timeout_s=60, case=case),
          "OAI-MM-009": lambda: checks.missing_modality_rejected(ex, schemas=SCHEMAS, modality="image", case=case),
          "ANT-MM-004": lambda: checks.messages_image_without_vision_rejected(ex, schemas=SCHEMAS, case=case)}[rid]
    with pytest.raises(ConformanceFailure) as info:
        fn()
    return info.value


DEVIATIONS = [(name, dev) for name in ("reference", "reference-multimodal")
              for dev in profiles.load(name).deviations if dev.requirement in CITED]


@pytest.mark.parametrize(("name", "dev"), DEVIATIONS,
                         ids=[f"{n}-{d.requirement}-{i}" for i, (n, d) in enumerate(DEVIATIONS)])
def test_media_deviations_name_real_cases_and_shapes(name, dev):
    ids = CITED[dev.requirement]
    for case in dev.cases:
        assert any(case in i for i in ids), f"{name}: {dev.requirement} case {case!r} matches no param id"
    assert dev.shapes, f"{name}: {dev.requirement}: a media deviation names the shape it excuses"
    covered = [i for i in ids if dev.applies_to(i)]
    if dev.requirement == "ANT-MM-002":  # the 400 body of llama.cpp, not its status
        ex = mock_exchange(status=400, path="/v1/messages", headers={"content-type": "application/json"},
                           body=b'{"error":{"code":400,"message":"Failed to load image or audio file",'
                                b'"type":"invalid_request_error"}}')
        with pytest.raises(ConformanceFailure) as info:
            checks.bad_messages_image_rejected(ex, schemas=SCHEMAS, case=covered[0])
        assert outcomes.deviation_excuses(dev, outcomes.shapes_of(info.value))
        return
    for case in covered:  # a 500 in a covered case is excused; a 200 (the media dropped) is not
        assert outcomes.deviation_excuses(
            dev, outcomes.shapes_of(_judged(dev.requirement, case, status=500, body=LLAMA_500)))
        dropped = _judged(dev.requirement, case, status=200, body=b'{"usage": {"prompt_tokens": 52}}')
        assert not outcomes.deviation_excuses(dev, outcomes.shapes_of(dropped))


def test_cases_gate_on_their_modality_and_tier():
    for case in module.UNDECODABLE + module.DAMAGED:
        param = case.param()
        names = {m.name for m in param.marks}
        assert {"requires", "media"} <= names, case.id
        requires = next(m for m in param.marks if m.name == "requires").args
        assert {"image": "vision", "audio": "audio", "video": "video"}[case.modality] in requires
    # the "no modality" cases run whatever the media tier (no media marker) and need no capability of it
    for case in module.MISSING + module.MISSING_MESSAGES:
        marks = case.param(gate=False).marks
        assert all(m.name != "media" for m in marks)
        assert all(a not in ("vision", "audio", "video") for m in marks for a in m.args)
    assert dataclasses.replace(module.DAMAGED[-1]).tier == "full"  # the MP3 case (audio costs seconds)
