"""Request bodies read as a stream, with the size limit enforced while reading.

An upload is either the ``file`` field of a ``multipart/form-data`` body or a raw
body with an accepted ``Content-Type`` (``image/*`` or ``video/*``, and
``application/octet-stream``). :func:`iter_upload` yields the upload's bytes as
they arrive and stops with 413 as soon as more than the limit has come (a
``Content-Length`` above the limit is refused before anything is read); the
multipart body is parsed incrementally (python-multipart), so no body is ever
held whole by the parser or spooled to disk. The client's file name is parsed
and dropped: it never reaches the filesystem, a log or a response.

:func:`read_image_upload` collects an image (bytes in memory, at most the limit)
and checks its header's pixel count as soon as the header has arrived
(decompression bombs: 413 before the rest is read, long before decoding).
:func:`save_video_upload` streams a video into a file chosen by the server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from posekit.io import image_header_size, sniff_video
from posekit.serve.errors import ApiError

__all__ = ["check_upload_headers", "iter_upload", "read_image_upload", "save_video_upload", "MULTIPART_OVERHEAD",
           "FIELD_NAME"]

#: Bytes a multipart body may carry beyond the file itself (boundaries, part headers, small fields).
MULTIPART_OVERHEAD = 64 * 1024

#: Name of the multipart field that holds the upload.
FIELD_NAME = "file"

#: Bytes of an image after which its header is looked at (the pixel limit); again at the end if not found.
_HEADER_PROBE = 64 * 1024


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.3g} MB"


def _content_kind(request: Request, accepted: tuple[str, ...], what: str) -> bytes | None:
    """The multipart boundary, or None for an accepted raw body; 415 / 400 otherwise."""
    header = request.headers.get("content-type")
    usage = (f"send the {what} as multipart/form-data field '{FIELD_NAME}' or as a raw body with "
             f"Content-Type {' or '.join(a + '*' if a.endswith('/') else a for a in accepted)}")
    if not header:
        raise ApiError(415, f"missing Content-Type: {usage}")
    kind, options = parse_options_header(header)
    kind_text = kind.decode("latin-1").lower()
    if kind_text == "multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "multipart/form-data without a boundary parameter", "bad_multipart")
        return boundary
    if any(kind_text.startswith(a) if a.endswith("/") else kind_text == a for a in accepted):
        return None
    raise ApiError(415, f"Content-Type {kind_text or header!r} is not accepted: {usage}")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise ApiError(400, f"invalid Content-Length {value!r}") from None
    if length < 0:
        raise ApiError(400, f"invalid Content-Length {value!r}")
    return length


def _too_large(what: str, limit: int, seen: str) -> ApiError:
    return ApiError(413, f"the {what} is larger than the limit of {_mb(limit)} ({seen})", "payload_too_large")


class _PartCollector:
    """python-multipart callbacks that keep the data of the first ``file`` field, chunk by chunk."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.found = False
        self.size = 0
        self.pending: list[bytes] = []
        self._field = b""
        self._value = b""
        self._disposition = b""
        self._current = False  # the part being parsed is the upload
        self.error: ApiError | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._field = self._value = b""
        self._current = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        # options.get(b"filename") is the client's file name: deliberately unused.
        self._current = options.get(b"name") == FIELD_NAME.encode() and not self.found
        if self._current:
            self.found = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._current or self.error is not None:
            return
        self.size += end - start
        if self.size > self.limit:
            self.error = _too_large(self.what, self.limit, "more arrived")
            return
        self.pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        self._current = False


def check_upload_headers(request: Request, *, limit: int, accepted: tuple[str, ...], what: str) -> bytes | None:
    """The checks an upload's headers allow before anything is read; returns the multipart boundary or None.

    Raises:
        ApiError: 415 for a missing or unaccepted ``Content-Type``; 400 for a multipart type
            without boundary or an invalid ``Content-Length``; 413 for a ``Content-Length``
            above ``limit`` (plus :data:`MULTIPART_OVERHEAD` for multipart bodies).
    """
    boundary = _content_kind(request, accepted, what)
    allowed_total = limit + (MULTIPART_OVERHEAD if boundary is not None else 0)
    declared = _declared_length(request)
    if declared is not None and declared > allowed_total:
        raise _too_large(what, limit, f"Content-Length {declared} bytes")
    return boundary


async def iter_upload(request: Request, *, limit: int, accepted: tuple[str, ...], what: str) -> AsyncIterator[bytes]:
    """The upload's bytes as they arrive (raw body or multipart field ``file``), at most ``limit`` of them.

    Args:
        request: the incoming request (its body not read yet).
        limit: largest upload in bytes (413 as soon as more has arrived, or from ``Content-Length``).
        accepted: raw ``Content-Type`` values accepted: prefixes ending in ``/`` (``"image/"``) or
            exact types (``"application/octet-stream"``).
        what: ``"image"`` or ``"video"``, for the messages.

    Raises:
        ApiError: 415 (content type), 413 (size), 400 (malformed multipart, no ``file`` field,
            client gone).
    """
    boundary = check_upload_headers(request, limit=limit, accepted=accepted, what=what)
    allowed_total = limit + (MULTIPART_OVERHEAD if boundary is not None else 0)
    total = 0
    collector = _PartCollector(limit, what) if boundary is not None else None
    parser = MultipartParser(boundary, collector.callbacks()) if collector is not None and boundary else None
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            total += len(chunk)
            if total > allowed_total:
                raise _too_large(what, limit, "more arrived")
            if parser is None:
                yield chunk
                continue
            assert collector is not None
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(400, f"malformed multipart body: {exc}", "bad_multipart") from None
            if collector.error is not None:
                raise collector.error
            while collector.pending:
                yield collector.pending.pop(0)
    except ClientDisconnect:
        raise ApiError(400, "the client closed the connection before the body was complete",
                       "client_disconnected") from None
    if parser is not None and collector is not None:
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(400, f"malformed multipart body: {exc}", "bad_multipart") from None
        if total and not collector.found:
            raise ApiError(400, f"the multipart body has no '{FIELD_NAME}' field: put the {what} in a field "
                                f"named '{FIELD_NAME}'", "missing_file")
        while collector.pending:
            yield collector.pending.pop(0)


def _check_pixels(data: bytes, max_pixels: int) -> bool:
    """Whether the header was found (413 when it announces more than ``max_pixels``)."""
    size = image_header_size(data)
    if size is None:
        return False
    w, h = size
    if w * h > max_pixels:
        raise ApiError(413, f"the image is {w}x{h} = {w * h / 1e6:.1f} MP by its header, above the limit of "
                            f"{max_pixels / 1e6:.3g} MP", "image_too_large")
    return True


async def read_image_upload(request: Request, *, limit: int, max_pixels: int) -> bytes:
    """The uploaded image's bytes (not decoded), its header's pixel count already checked.

    Raises:
        ApiError: as :func:`iter_upload`; 400 for an empty upload; 413 for a header
            announcing more than ``max_pixels`` (as soon as the header has arrived).
    """
    buf = bytearray()
    header_seen = False
    async for chunk in iter_upload(request, limit=limit, accepted=("image/", "application/octet-stream"),
                                   what="image"):
        buf += chunk
        if not header_seen and len(buf) >= _HEADER_PROBE:
            header_seen = _check_pixels(bytes(buf[:_HEADER_PROBE]), max_pixels)
    if not buf:
        raise ApiError(400, f"empty body: send an image (multipart field '{FIELD_NAME}' or a raw image/* body)",
                       "empty_body")
    data = bytes(buf)
    if not header_seen:
        _check_pixels(data, max_pixels)
    return data


async def save_video_upload(request: Request, dest: Path, *, limit: int) -> tuple[int, str]:
    """Stream the uploaded video into ``dest`` (a server-chosen path); returns ``(bytes, suffix)``.

    ``suffix`` comes from the content (:func:`posekit.io.sniff_video`), never from the client.

    Raises:
        ApiError: as :func:`iter_upload`; 400 when empty; 415 when the content is no known video container.
            ``dest`` is removed on any error.
    """
    size = 0
    head = b""
    try:
        with open(dest, "wb") as f:
            async for chunk in iter_upload(request, limit=limit, accepted=("video/", "application/octet-stream"),
                                           what="video"):
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                f.write(chunk)
                size += len(chunk)
        if not size:
            raise ApiError(400, f"empty body: send a video (multipart field '{FIELD_NAME}' or a raw video/* body)",
                           "empty_body")
        suffix = sniff_video(head)
        if suffix is None:
            raise ApiError(415, "not a video: the content has no known container signature (MP4/MOV, AVI, "
                                "Matroska/WebM, Ogg, FLV, MPEG-TS/PS, WMV, Y4M)", "not_a_video")
    except BaseException:
        try:
            os.unlink(dest)
        except OSError:
            pass
        raise
    return size, suffix
