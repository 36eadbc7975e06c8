"""RecordIO, Mesos's framing of event streams: each record is ``<length>\\n<bytes>``."""

from __future__ import annotations


class RecordIOError(ValueError):
    """The stream is not RecordIO."""


def record(data: bytes) -> bytes:
    """One framed record."""
    return b"%d\n%s" % (len(data), data)


class RecordReader:
    """Splits a RecordIO byte stream, fed in pieces of any size, into records."""

    def __init__(self, max_record: int = 64 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._max = max_record

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > 20:
                    raise RecordIOError("a record length is longer than 20 digits")
                return records
            head = bytes(self._buffer[:newline])
            if not head.isdigit():
                raise RecordIOError(f"a record starts with {head[:20]!r}, not its length")
            length = int(head)
            if length > self._max:
                raise RecordIOError(f"a record of {length} bytes is over {self._max}")
            if len(self._buffer) < newline + 1 + length:
                return records
            records.append(bytes(self._buffer[newline + 1 : newline + 1 + length]))
            del self._buffer[: newline + 1 + length]
