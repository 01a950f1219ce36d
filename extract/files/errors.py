"""The one error file imports raise: it names the file and says what is wrong with it.

Anything that goes wrong while reading a user's file (a truncated gzip, invalid JSON, a
layout we do not know, a polars parse failure) is turned into this error at the file
boundary, so the command line can print one clear line instead of a stack trace through
polars internals.
"""

from __future__ import annotations


class FileImportError(Exception):
    """A file (or archive) cannot be imported; the message starts with its name."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem
