"""Reading a text file in blocks of whole lines, with memory bounded whatever its lines.

A file is read in blocks of 8 MiB (decompressed when its name ends in .gz); the blocks are cut
at line breaks into :class:`Span` s of whole lines, and a line over the limit is kept as its
head only (a :class:`LongLine` knowing its full length). ``textfiles`` checks and copies the
spans; problems reading the bytes at all (damaged or fake gzip) are a :class:`SourceReadError`.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 8 * 1024 * 1024


class SourceReadError(ValueError):
    """A file that cannot be read at all; the message names it, says what is wrong and the fix.
    (A ``ValueError``: the CLI prints it as one line and exits 2.)"""


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when its name says gzip."""
    if path.suffixes and path.suffixes[-1].lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_block(stream: BinaryIO, size: int, path: Path) -> bytes:
    """``stream.read(size)``, with gzip problems said plainly."""
    try:
        return stream.read(size)
    except gzip.BadGzipFile as e:
        if "Not a gzipped file" in str(e):
            raise SourceReadError(
                f"{path}: is not gzip-compressed although its name ends in .gz; "
                "rename it without .gz (or compress it with gzip)"
            ) from None
        raise SourceReadError(
            f"{path}: the gzip data is damaged ({e}); copy or download the file again "
            "(`gzip -t FILE` checks it)"
        ) from None
    except EOFError:
        raise SourceReadError(
            f"{path}: the gzip data ends early: the file is truncated (an interrupted copy or "
            "download?) and nothing was stored; copy it again (`gzip -t FILE` checks it)"
        ) from None
    except zlib.error as e:
        raise SourceReadError(
            f"{path}: the gzip data is damaged ({e}); copy or download the file again "
            "(`gzip -t FILE` checks it)"
        ) from None


class LongLine(bytes):
    """The head of a line over the limit, knowing the line's full length."""

    length: int


def long_line(head: bytes, length: int) -> LongLine:
    x = LongLine(head)
    x.length = length
    return x


@dataclass
class Span:
    """Whole lines ``buf[start:end]``, each within the limit (looked at without copying)."""

    buf: bytes
    start: int
    end: int

    def view(self) -> memoryview:
        return memoryview(self.buf)[self.start : self.end]

    def bytes(self) -> bytes:
        return self.buf[self.start : self.end]

    def clean(self, fmt: str) -> bool:
        """No NUL byte and valid UTF-8 (decoding without copying: C speed); in JSON lines, no
        byte the line reader cannot take either."""
        buf, start, end = self.buf, self.start, self.end
        if buf.find(b"\x00", start, end) >= 0:
            return False
        if fmt == "jsonl" and (
            buf.find(b"\x01", start, end) >= 0
            or buf.count(b"\r", start, end) != buf.count(b"\r\n", start, end)
        ):
            return False
        if self.buf.isascii():  # the whole block: faster still than decoding it
            return True
        try:
            str(self.view(), "utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def endings(self) -> str:
        """How the span's lines end: "lf", "crlf", "mixed" or "none" (no line break)."""
        lf = self.buf.count(b"\n", self.start, self.end)
        crlf = self.buf.count(b"\r\n", self.start, self.end) if lf else 0
        return "none" if not lf else "lf" if not crlf else "crlf" if crlf == lf else "mixed"

    def odd_quotes(self) -> bool:
        """A line with an odd number of double quotes: a quoted CSV field goes on past it."""
        if self.buf.find(b'"', self.start, self.end) < 0:
            return False
        return any(ln.count(b'"') % 2 for ln in self.bytes().split(b"\n") if b'"' in ln)

    def longest_within(self, limit: int) -> bool:
        """Every line within ``limit`` bytes: checked in windows of half the limit (each must
        hold a line break), and line by line only where one does not."""
        half = max(1, limit // 2)
        find = self.buf.find
        if all(
            find(b"\n", i, min(i + half, self.end)) >= 0 for i in range(self.start, self.end, half)
        ):
            return True
        return max(len(ln.rstrip(b"\r")) for ln in self.bytes().split(b"\n")) <= limit


def blocks(stream: BinaryIO, max_line: int, path: Path) -> Iterator[Span | LongLine]:
    """The file as spans of whole lines (each within ``max_line`` bytes; the last may lack its
    line break) and, for a longer line, its head only (a :class:`LongLine`): memory stays
    bounded by the block size and the limit, however long a line is."""
    carry = b""
    skipping: LongLine | None = None  # a long line being read past
    while True:
        chunk = read_block(stream, CHUNK, path)
        if not chunk:
            break
        start = 0
        if skipping is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                skipping.length += len(chunk)
                continue
            skipping.length += nl
            yield skipping
            skipping = None
            start = nl + 1
        last = chunk.rfind(b"\n", start) + 1
        if last == 0 or last <= start:  # no line ends in the rest of this block
            carry += chunk[start:]
        else:
            if carry:  # the line begun in the previous block ends here
                first = chunk.find(b"\n", start) + 1
                joined = carry + chunk[start:first]
                yield from splitlong_line(Span(joined, 0, len(joined)), max_line)
                carry = b""
                start = first
            if last > start:
                yield from splitlong_line(Span(chunk, start, last), max_line)
            carry = chunk[last:]
        if len(carry) > max_line:
            skipping = long_line(carry[:HEAD], len(carry))
            carry = b""
    if skipping is not None:
        yield skipping
    elif carry:
        yield from splitlong_line(Span(carry, 0, len(carry)), max_line)


HEAD = 64 * 1024  # bytes of a long line kept (its marker keeps max_raw_length of them)


def splitlong_line(span: Span, max_line: int) -> Iterator[Span | LongLine]:
    if span.longest_within(max_line):
        yield span
        return
    run: list[bytes] = []
    for line in lines_of(span.bytes()):
        content = line.rstrip(b"\r\n")
        if len(content) > max_line:
            if run:
                joined = b"".join(run)
                yield Span(joined, 0, len(joined))
                run = []
            yield long_line(content[:HEAD], len(content))
        else:
            run.append(line)
    if run:
        joined = b"".join(run)
        yield Span(joined, 0, len(joined))


def lines_of(data: bytes) -> Iterator[bytes]:
    """The lines of ``data`` with their line breaks, split at \n only (not at a lone \r)."""
    parts = data.split(b"\n")
    for part in parts[:-1]:
        yield part + b"\n"
    if parts[-1]:
        yield parts[-1]
