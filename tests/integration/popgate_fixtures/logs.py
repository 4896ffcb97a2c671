"""popgate's log lines read back as a user's tools would: logfmt text lines (key=value, values
in double quotes with JSON-style escapes when they need them) and JSON lines."""

import json
import re

_PAIR = re.compile(r'([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')
_PRIORITY = re.compile(r"^<([0-7])>")


def parse_logfmt(line):
    """One text line as a dict; a leading journald priority ("<6>") comes back as "priority".
    Raises ValueError on anything that is not key=value pairs separated by single spaces."""
    fields = {}
    m = _PRIORITY.match(line)
    if m:
        fields["priority"] = int(m.group(1))
        line = line[m.end():]
    at = 0
    while at < len(line):
        m = _PAIR.match(line, at)
        if not m:
            raise ValueError(f"not logfmt at column {at}: {line!r}")
        key, value = m.group(1), m.group(2)
        fields[key] = json.loads(value) if value.startswith('"') else value
        at = m.end()
        if at < len(line):
            if line[at] != " ":
                raise ValueError(f"not logfmt at column {at}: {line!r}")
            at += 1
    return fields


def text_records(popgate):
    """Every log line popgate wrote, parsed (lines that are not popgate's, such as a
    sanitizer's report, are skipped)."""
    out = []
    for line in popgate.stderr_text().splitlines():
        if "level=" in line:
            out.append(parse_logfmt(line))
    return out


def json_records(popgate):
    out = []
    for line in popgate.stderr_text().splitlines():
        if _PRIORITY.sub("", line).startswith("{"):
            out.append(json.loads(_PRIORITY.sub("", line)))
    return out
