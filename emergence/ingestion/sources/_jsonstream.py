"""Read one large JSON object from a stream, one element of its big array at a time.

BIG-bench full logs are ``json.dump(dataclasses.asdict(ResultsFileData))``: an object whose
``queries`` array holds every logged sample of a task and model, tens to hundreds of MB per
file inside an archive of many.  :func:`iter_object` decodes the top-level keys one value at a
time and the elements of one named array one at a time, so memory holds one element (one
query: one subtask at one shot count) and a read buffer, never the file.

Values are decoded by :meth:`json.JSONDecoder.raw_decode`, the standard library's own
decoder, on a buffer that grows (doubling) until the value is complete; the stream is read
as UTF-8 with an incremental decoder, so a multi-byte character split across reads is fine.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import IO, Iterator

from emergence.ingestion.schema import IngestError

__all__ = ["iter_object"]

_WS = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 20


class _Reader:
    def __init__(self, fh: IO[bytes], label: str, chunk: int = _CHUNK):
        self.fh, self.label, self.chunk = fh, label, chunk
        self.dec = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        """Read more text (at least as much as is buffered: amortised linear decoding)."""
        if self.eof:
            return False
        data = self.fh.read(max(self.chunk, len(self.buf) - self.pos))
        try:
            text = self.dec.decode(data, final=not data)
        except UnicodeDecodeError as e:
            raise IngestError(self.label, f"not UTF-8 text ({e.reason})") from e
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        return bool(data)

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise IngestError(self.label, f"invalid or truncated JSON: expected {' or '.join(map(repr, chars))}, "
                              f"found {c!r}" if c else "invalid or truncated JSON: unexpected end of file")
        self.pos += 1
        return c

    def value(self):
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self.more():
                    continue
                raise IngestError(self.label, f"invalid or truncated JSON: {e.msg}") from e
            if end == len(self.buf) and not self.eof and self.more():
                continue        # a number may go on in the next read ("12" + "3")
            self.pos = end
            return obj


def iter_object(fh: IO[bytes], label: str, array_key: str, *, chunk: int = _CHUNK) -> Iterator[tuple]:
    """Yield ``("key", name, value)`` for each top-level key and ``("item", index, value)`` for
    each element of the array under ``array_key``, in file order.

    Parameters
    ----------
    fh : binary file object
        The stream (e.g. a member of a tar archive being read sequentially).
    label : str
        The name errors give for the file.
    array_key : str
        The top-level key whose array is streamed element by element (a ``null`` or any other
        value there is yielded as a key instead).

    Raises
    ------
    IngestError
        Not a JSON object, malformed or truncated JSON, or text after the object.
    """
    r = _Reader(fh, label, chunk)
    r.expect("{")
    if r.peek() == "}":
        r.pos += 1
    else:
        while True:
            key = r.value()
            if not isinstance(key, str):
                raise IngestError(label, "invalid JSON: an object key that is not a string", value=key)
            r.expect(":")
            if key == array_key and r.peek() == "[":
                r.pos += 1
                i = 0
                if r.peek() == "]":
                    r.pos += 1
                else:
                    while True:
                        yield "item", i, r.value()
                        i += 1
                        if r.expect(",]") == "]":
                            break
            else:
                yield "key", key, r.value()
            if r.expect(",}") == "}":
                break
    if r.peek():
        raise IngestError(label, "invalid JSON: text after the top-level object")
