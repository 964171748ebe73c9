"""Checking CSV and JSON-lines files as text before the warehouse reads them.

DuckDB's CSV reader stops the whole file at a line that is not UTF-8, a line over its maximum
size or (with padding) a quoted field that spans lines. So every text file is first read here,
in blocks of 8 MiB (memory stays bounded whatever the file or its lines):

* a clean file (the usual case) is then read by DuckDB as it is: the check costs one pass of
  C-speed work per block (UTF-8 decoding, a NUL search, line lengths);
* a file with bad lines is copied to a temporary file in which each bad line is replaced by a
  *marker line* holding its reason, a detail and its first bytes, escaped (``\\xff``); the
  relation over the copy turns marker lines into quarantined records with the same record
  index, so nothing is lost and the good lines around them are stored;
* a file that cannot be read at all (a truncated or fake gzip, UTF-16 without a byte-order mark,
  a file in another encoding, an unreadable header) raises :class:`SourceReadError`, one line
  naming the file, what is wrong and the fix.

UTF-16 and UTF-32 files with a byte-order mark are transcoded to UTF-8 in the copy.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from portrait.ingest.textblocks import (
    LongLine,
    SourceReadError,
    blocks,
    lines_of,
    open_binary,
    read_block,
)

SAMPLE = 64 * 1024
# A marker line starts with this (no real CSV or JSON line does: it is a control character).
MARK = "\x1eportrait-unreadable-line"
SEP = "\x1f"
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
)
MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data", "add .gz to its name"),
    (b"(\xb5/\xfd", "zstd-compressed data", "add .zst to its name"),
    (b"PAR1", "a Parquet file", "name it .parquet"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx?)", "export the sheet as CSV (UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file", "export the sheet as CSV (UTF-8)"),
)


@dataclass
class TextCheck:
    """What reading a text file found."""

    clean: bool  # no bad line: DuckDB may read the file as it is
    transcode: str | None = None  # the file's encoding when it is not UTF-8 (UTF-16/32)
    quoted_newlines: bool = False  # a CSV line with an odd number of quotes: a field spans lines
    bad_lines: int = 0  # lines replaced by markers in the copy (after copying)


def compressed_but_unreadable(path: Path) -> bool:
    """Compressed in a way Python cannot read (zstd): DuckDB reads it unchecked."""
    return bool(path.suffixes) and path.suffixes[-1].lower() == ".zst"


def check_text_file(path: Path, fmt: str, max_line: int) -> TextCheck:
    """Read ``path`` (csv or jsonl) once and say whether DuckDB may read it as it is."""
    with open_binary(path) as f:
        head = read_block(f, SAMPLE, path)
    encoding = _sniff_encoding(path, head, fmt)
    if encoding is not None:
        return TextCheck(clean=False, transcode=encoding)
    if fmt == "csv":
        _check_header(path, head, max_line)
    quoted = False
    endings: set[str] = set()
    with open_binary(path) as f:
        for span in blocks(f, max_line, path):
            if isinstance(span, LongLine) or not span.clean(fmt):
                return TextCheck(clean=False)
            if fmt == "csv" and not quoted:
                quoted = span.odd_quotes()
            if fmt == "jsonl":
                endings.add(span.endings())
                if "mixed" in endings or {"lf", "crlf"} <= endings:
                    return TextCheck(clean=False)  # DuckDB's line reader needs one kind
    return TextCheck(clean=True, quoted_newlines=quoted)


def copy_with_markers(
    path: Path, fmt: str, out: Path, check: TextCheck, max_line: int, max_raw: int
) -> TextCheck:
    """Write ``path`` to ``out`` as UTF-8 with every bad line replaced by a marker line."""
    quoted = False
    bad = 0
    with open_binary(path) as f, out.open("wb") as w:
        stream: BinaryIO = _Transcoder(f, check.transcode, path) if check.transcode else f
        for span in blocks(stream, max_line, path):
            if isinstance(span, LongLine):
                bad += 1
                w.write(_marker(fmt, "line_too_long", _long_detail(span, max_line), span, max_raw))
                continue
            if span.clean(fmt) and (fmt == "csv" or span.endings() in ("lf", "none")):
                w.write(span.view())
            else:  # line by line; JSON lines all end in \n in the copy
                for line in lines_of(span.bytes()):
                    content = line.rstrip(b"\r\n")
                    reason, detail = _line_problem(content, fmt)
                    if reason is not None:
                        bad += 1
                        w.write(_marker(fmt, reason, detail, content, max_raw))
                    elif fmt == "jsonl":
                        w.write(content + b"\n")
                    else:
                        w.write(line)
            if fmt == "csv" and not quoted:
                quoted = span.odd_quotes()
    return TextCheck(clean=False, transcode=check.transcode, quoted_newlines=quoted, bad_lines=bad)


def _line_problem(line: bytes, fmt: str) -> tuple[str | None, str]:
    """(reason, detail) of a line that cannot be read as text; (None, "") for a good one."""
    nul = line.find(b"\x00")
    if nul >= 0:
        return "nul_character", f"a NUL byte at byte {nul + 1} of the line"
    if fmt == "jsonl":
        # DuckDB's line reader (which reads JSON lines as one text column) stops at these.
        for byte, name in ((b"\r", "a carriage return"), (b"\x01", "a \\x01 byte")):
            at = line.find(byte)
            if at >= 0:
                return "control_character", f"{name} inside the line at byte {at + 1}"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        return "invalid_utf8", f"byte 0x{line[e.start]:02x} at byte {e.start + 1} is not UTF-8"
    return None, ""


def _long_detail(head: bytes, max_line: int) -> str:
    length = getattr(head, "length", len(head))
    return f"the line is {length:,} bytes (max {max_line:,})"


def escape_bytes(data: bytes) -> str:
    """Bytes as text: UTF-8 where it is, ``\\xNN`` for any other byte and for control
    characters (so the text is one line and holds no NUL)."""
    text = data.decode("utf-8", "backslashreplace")
    return "".join(
        f"\\x{ord(c):02x}" if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F else c for c in text
    )


def _marker(fmt: str, reason: str, detail: str, raw: bytes, max_raw: int) -> bytes:
    cut_note = ""
    length = getattr(raw, "length", len(raw))
    text = escape_bytes(raw[: max_raw * 2])
    if len(text) > max_raw or length > len(raw):
        cut_note = f"... [cut: the line is {length:,} bytes]"
        text = text[: max(0, max_raw - len(cut_note))]
    line = f"{MARK}{SEP}{reason}{SEP}{detail}{SEP}{text}{cut_note}"
    if fmt == "csv":
        line = '"' + line.replace('"', '""') + '"'
    return line.encode("utf-8") + b"\n"


# --- encodings ----------------------------------------------------------------------------


class _Transcoder:
    """A UTF-16/32 byte stream read as UTF-8 bytes (strictly: an invalid sequence is an
    error naming the file)."""

    def __init__(self, raw: BinaryIO, encoding: str, path: Path) -> None:
        self.raw = raw
        self.path = path
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.done = False
        self.offset = 0
        bom = next(b for b, enc, _ in BOMS if enc == encoding)
        first = read_block(raw, len(bom), path)
        self.offset = len(first)

    def read(self, size: int) -> bytes:
        while not self.done:
            data = read_block(self.raw, size, self.path)
            final = not data
            try:
                text = self.decoder.decode(data, final=final)
            except UnicodeDecodeError as e:
                raise SourceReadError(
                    f"{self.path}: is not valid {self.encoding.upper()} near byte "
                    f"{self.offset + e.start:,} although it starts with that byte-order mark; "
                    "export it again as UTF-8"
                ) from None
            self.offset += len(data)
            self.done = final
            if text or final:
                return text.encode("utf-8")
        return b""


def _sniff_encoding(path: Path, head: bytes, fmt: str) -> str | None:
    """The encoding to transcode from (UTF-16/32 with a byte-order mark), None for UTF-8;
    SourceReadError for a file that is not text this reader knows."""
    for bom, encoding, _label in BOMS:
        if head.startswith(bom):
            return encoding
    for magic, what, fix in MAGIC:
        if head.startswith(magic):
            raise SourceReadError(f"{path}: is {what}, not {_fmt_name(fmt)}; {fix}")
    if head and head.count(b"\x00") > len(head) // 10:
        raise SourceReadError(
            f"{path}: is not UTF-8 text: it looks like UTF-16 or UTF-32 without a byte-order "
            "mark (or a binary file); convert it to UTF-8, e.g. "
            "`iconv -f UTF-16LE -t UTF-8 FILE > FILE.utf8`"
        )
    lines = head.split(b"\n")
    if len(head) == SAMPLE:
        lines = lines[:-1]  # the last may be cut in the middle of a character
    nonascii = [ln for ln in lines if any(b > 0x7F for b in ln)]
    bad = sum(1 for ln in nonascii if not _utf8(ln))
    if bad >= 3 and bad * 2 > len(nonascii):
        raise SourceReadError(
            f"{path}: is not UTF-8 text ({bad} of the first {len(lines)} lines are not); it is "
            "probably GB18030/GBK or Latin-1: convert it, e.g. "
            "`iconv -f GB18030 -t UTF-8 FILE > FILE.utf8`"
        )
    return None


def _check_header(path: Path, head: bytes, max_line: int) -> None:
    if not head.strip():
        raise SourceReadError(
            f"{path}: is empty: a CSV file needs a header line naming its columns "
            "(see `portrait schema`)"
        )
    header = head.split(b"\n", 1)[0]
    if len(header) > max_line or (b"\n" not in head and len(head) == SAMPLE):
        raise SourceReadError(
            f"{path}: the first line is over {min(max_line, SAMPLE) // 1024} KiB, too long for "
            "a header naming the columns; check that the file has line breaks and is CSV"
        )
    if b"\x00" in header or not _utf8(header):
        raise SourceReadError(
            f"{path}: the header line is not UTF-8 text; export the file as UTF-8 CSV"
        )


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fmt_name(fmt: str) -> str:
    return {"csv": "CSV text", "jsonl": "JSON lines", "parquet": "Parquet"}.get(fmt, fmt)
