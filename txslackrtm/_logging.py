"""
Where the client's log lines go: Twisted's logging by default, or a logger the user passes,
filtered by the client's own level.

A token is never handed to this module, and the single-use ticket in a WebSocket URL is
redacted (L{redact_url}) before a URL becomes part of a message.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from twisted.logger import Logger


class LogLevel(StrEnum):
    """How much the client logs; each level includes those after it."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


_ORDER = {LogLevel.DEBUG: 0, LogLevel.INFO: 1, LogLevel.WARN: 2, LogLevel.ERROR: 3}
_STDLIB_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


class CustomLogger(Protocol):
    """What a custom logger provides: one method per level, each taking messages."""

    def debug(self, *msgs: Any) -> Any: ...
    def info(self, *msgs: Any) -> Any: ...
    def error(self, *msgs: Any) -> Any: ...


def redact_url(url: str) -> str:
    """A WebSocket URL fit for a log line: its last path segment (the ticket) hidden."""
    parts = urlsplit(url)
    path, slash, _ticket = parts.path.rpartition("/")
    return urlunsplit((parts.scheme, parts.netloc, f"{path}{slash}<redacted>", "", ""))


def parse_level(level: LogLevel | str) -> LogLevel:
    """The L{LogLevel} named by C{level} (a member or its string, any case)."""
    if isinstance(level, str):
        try:
            return LogLevel(level.lower())
        except ValueError:
            pass
    names = ", ".join(member.name for member in LogLevel)
    raise ValueError(f"log_level must be one of {names}, not {level!r}")


def check_logger(logger: object) -> None:
    """Refuse, with a C{TypeError}, an object that cannot serve as a custom logger."""
    missing = [
        name for name in ("debug", "info", "error") if not callable(getattr(logger, name, None))
    ]
    if not (callable(getattr(logger, "warn", None)) or callable(getattr(logger, "warning", None))):
        missing.append("warn")
    if missing:
        raise TypeError(f"logger must have methods debug, info, warn and error; missing {missing}")


class ClientLog:
    """
    The client's log: format strings with C{{fields}}, as in C{twisted.logger}.

    @param level: the least severe level that is written.
    @param logger: a custom logger (C{debug/info/warn/error(*msgs)}, C{warning} accepted
        for C{warn}, optional C{set_level}/C{set_name}), a C{logging.Logger}, or C{None}
        for C{twisted.logger} in namespace C{txslackrtm}.
    """

    def __init__(self, level: LogLevel, logger: object | None, name: str) -> None:
        self.level = level
        self._threshold = _ORDER[level]
        #: Whether debug lines are written: check it before formatting one on a hot path.
        self.debugging = level is LogLevel.DEBUG
        self._custom = logger
        self._twisted = Logger(namespace="txslackrtm") if logger is None else None
        if isinstance(logger, logging.Logger):
            logger.setLevel(_STDLIB_LEVELS[level])
        else:
            for method, value in (("set_level", level.value), ("set_name", name)):
                setter = getattr(logger, method, None)
                if callable(setter):
                    setter(value)

    def debug(self, format: str, **fields: Any) -> None:
        self._write(LogLevel.DEBUG, format, fields)

    def info(self, format: str, **fields: Any) -> None:
        self._write(LogLevel.INFO, format, fields)

    def warn(self, format: str, **fields: Any) -> None:
        self._write(LogLevel.WARN, format, fields)

    def error(self, format: str, **fields: Any) -> None:
        self._write(LogLevel.ERROR, format, fields)

    def _write(self, level: LogLevel, format: str, fields: dict[str, Any]) -> None:
        if _ORDER[level] < self._threshold:
            return
        if self._twisted is not None:
            twisted_level = "warn" if level is LogLevel.WARN else level.value
            getattr(self._twisted, twisted_level)(format, **fields)
            return
        name = level.value
        if level is LogLevel.WARN and (
            isinstance(self._custom, logging.Logger) or not hasattr(self._custom, "warn")
        ):
            name = "warning"
        method = getattr(self._custom, name, None)
        if callable(method):
            method(format.format(**fields))
