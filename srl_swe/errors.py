"""Errors that name where bad input came from."""
from __future__ import annotations


class SRLSweError(Exception):
    """Base class for srl-swe errors a user should see as a clean message."""


class InvalidRecordError(SRLSweError):
    """A record of an input file could not be used; names file, record index and field."""

    def __init__(self, source: str, record: int | str | None, field: str | None, reason: str):
        self.source, self.record, self.field, self.reason = source, record, field, reason
        where = source
        if record is not None:
            where += f", record {record}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {reason}")


class UnknownFormatError(SRLSweError):
    """No parser recognises an input."""


class FormatError(ValueError):
    """A model output does not follow the required `<think>` + one tool call format."""
