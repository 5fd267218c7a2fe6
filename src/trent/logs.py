"""Logging for every Trent process: one structured line per request, and process names that `ps` shows.

Lines are JSON (one object per line: `time`, `level`, `logger`, `message`, and for requests the fields of
`REQUEST_FIELDS`) by default when stderr is not a terminal, and plain text on a terminal; `TRENT_LOG_FORMAT`
(`json` or `text`) chooses. A request line is built only from what its audit record already holds (operation,
principal, key ARNs, error code) plus the HTTP outcome and latency: never a secret, a plaintext or a body.
The stdlib and setproctitle only: the command line and the supervisor call it in every process they start.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
from datetime import UTC, datetime

import setproctitle

FORMATS = ("json", "text", "auto")
LEVELS = ("debug", "info", "warning", "error", "critical")
REQUEST_FIELDS = (
    "request_id",
    "operation",
    "principal",
    "access_key_id",
    "key",
    "outcome",
    "error_code",
    "latency_ms",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Extra fields come only from `extra={"fields": {...}}` (never from args)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
        return text


def configure(level: str, fmt: str = "auto", *, process: str | None = None) -> None:
    """Set up the root logger of this process (replacing any handler), and name the process."""
    if process is not None:
        name_process(process)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def name_process(name: str) -> None:
    """`trent: <name>` in `ps` (the command line, via setproctitle) and in log lines (processName)."""
    multiprocessing.current_process().name = name
    setproctitle.setproctitle(f"trent: {name}")
