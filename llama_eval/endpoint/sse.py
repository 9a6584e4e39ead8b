"""A server-sent-events reader for streamed chat completions, tolerant of what real servers send.

Follows the WHATWG rules that matter here, so LF, CRLF or CR line ends, ``:`` comment lines
(keep-alives), events split across reads and several events in one read all give the same events.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEParser:
    """Incremental server-sent-events parser: ``feed`` bytes as they arrive, get complete events.

    Follows the WHATWG rules that matter here: a line ends at CRLF, LF or CR; a blank line ends an
    event; ``:`` starts a comment; ``data`` lines of one event are joined with newlines; one space
    after the colon is dropped; unknown fields are ignored. Returns ``(event, data)`` pairs.
    """

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if not self._buffer and not self._data and chunk.endswith(b"\n\n") and b"\r" not in chunk and not self._event:
            fast = self._whole_data_events(chunk)
            if fast is not None:
                return fast
        buffer = self._buffer + chunk if self._buffer else chunk
        if buffer.endswith(b"\r"):  # maybe half of a CRLF: wait for the next byte before ending the line
            self._buffer = buffer
            return []
        lines = _LINE_END.split(buffer)
        self._buffer = lines.pop()  # the part after the last line end (usually b"")
        return self._lines(lines)

    @staticmethod
    def _whole_data_events(chunk: bytes) -> list[tuple[str, str]] | None:
        """The common case, cheaply: whole ``data: ...`` events, one line each, LF line ends; else None."""
        events = []
        for raw in chunk[:-2].split(b"\n\n"):
            if not raw.startswith(b"data: ") or b"\n" in raw:
                return None
            events.append(("message", raw[6:].decode()))
        return events

    def close(self) -> list[tuple[str, str]]:
        """End of stream: finish the lines held back; an unfinished event is dropped, except a bare ``[DONE]``."""
        rest, self._buffer = self._buffer, b""
        lines = _LINE_END.split(rest) if rest else [b""]
        tail = lines.pop()  # the part after the last line end
        events = self._lines(lines)
        if tail:
            self._lines([tail])
        if self._data == [b"[DONE]"]:
            events.append(("message", "[DONE]"))
        self._data, self._event = [], b""
        return events

    def _lines(self, lines: list[bytes]) -> list[tuple[str, str]]:
        events: list[tuple[str, str]] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append((self._event.decode() or "message", b"\n".join(self._data).decode()))
                self._data, self._event = [], b""
                continue
            if line[0] == 0x3A:  # ":" comment (keep-alive)
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value
        return events
