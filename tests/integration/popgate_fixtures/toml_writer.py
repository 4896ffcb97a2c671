"""Writes the subset of TOML that popgate's config uses: tables, arrays of tables, strings,
integers, booleans and arrays of those. (Python 3.11 reads TOML, but does not write it.)"""

import json


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as a TOML value")


def _is_table_array(v):
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def _emit(table, path, out):
    scalars = {k: v for k, v in table.items()
               if not isinstance(v, dict) and not _is_table_array(v)}
    for k, v in scalars.items():
        out.append(f"{k} = {_value(v)}")
    for k, v in table.items():
        sub = f"{path}.{k}" if path else k
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{sub}]")
            _emit(v, sub, out)
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{sub}]]")
                _emit(item, sub, out)


def dumps(config):
    out = []
    _emit(config, "", out)
    return "\n".join(out).lstrip("\n") + "\n"


def merge(base, override):
    """A copy of base with override applied: dicts merge key by key, anything else replaces,
    and a value of None deletes the key."""
    result = dict(base)
    for k, v in override.items():
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict) and isinstance(result.get(k), dict):
            result[k] = merge(result[k], v)
        else:
            result[k] = v
    return result
