"""The summary table of a benchmark run: one column per proxy, the median of each figure over
the rounds, and popgate's costs divided by each peer's."""

import statistics

def merge_rounds(rounds):
    """One result per proxy: the median of each number over the rounds (the first round's
    value for anything else)."""
    if len(rounds) == 1:
        return rounds[0]

    def merge(values):
        first = values[0]
        if isinstance(first, dict):
            keys = first.keys()
            return {k: merge([v.get(k) for v in values if isinstance(v, dict)]) for k in keys}
        nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if nums and len(nums) == len(values):
            return statistics.median(nums)
        return first

    return merge(rounds)


def _get(res, *path):
    for p in path:
        if not isinstance(res, dict) or p not in res:
            return None
        res = res[p]
    return res


ROWS = [
    ("full sessions/s", ("sessions_full", "sessions_per_s")),
    ("CPU s / 1000 full sessions", ("sessions_full", "cpu_s_per_1000")),
    ("resumed sessions/s", ("sessions_resumed", "sessions_per_s")),
    ("CPU s / 1000 resumed sessions", ("sessions_resumed", "cpu_s_per_1000")),
    ("resumed fraction", None),
    ("RETR MiB/s", ("retr", "mib_per_s")),
    ("CPU s / GiB relayed", ("retr", "cpu_s_per_gib")),
    ("KiB / idle TLS session", ("idle", "kib_per_session")),
    ("idle sessions held", ("idle", "sessions")),
    ("RSS before idle sessions (KiB)", ("idle", "rss_before_kib")),
    ("RSS with idle sessions (KiB)", ("idle", "rss_after_kib")),
    ("peak RSS, 10 MiB RETR (KiB)", ("memory", "peak", "rss_peak_kib")),
    ("peak RSS growth, 10 MiB RETR (KiB)", ("memory", "peak", "growth_kib")),
    ("RSS growth, slow reader (KiB)", ("memory", "slow", "growth_kib")),
]
RATIO_ROWS = ["CPU s / 1000 full sessions", "CPU s / 1000 resumed sessions",
              "CPU s / GiB relayed", "KiB / idle TLS session"]


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def summary(results, args):
    prim = results.pop("mbedtls-cipher", None)
    names = list(results)
    values = {}
    for label, path in ROWS:
        for n in names:
            if path is None:
                full = _get(results[n], "sessions_resumed", "ok")
                reused = _get(results[n], "sessions_resumed", "reused")
                values[(label, n)] = round(reused / full, 2) if full else None
            else:
                values[(label, n)] = _get(results[n], *path)
    label_w = max(len(r[0]) for r in ROWS) + 2
    col_w = 12
    lines = ["", f"Summary, median of {args.rounds} round(s) "
                 "(lower is better for CPU and memory; "
                 f"{args.sessions} sessions x {args.concurrency} clients, "
                 f"{args.retr_mib} MiB RETR x {args.retr_reps}, {args.idle} idle sessions, "
                 f"{args.workers} workers each; TLS {args.tls} {args.cipher}, {args.curve})", ""]
    lines.append("".ljust(label_w) + "".join(n.rjust(col_w) for n in names))
    for label, _ in ROWS:
        lines.append(label.ljust(label_w) +
                     "".join(_fmt(values[(label, n)]).rjust(col_w) for n in names))
    if prim:
        # AES-128-GCM or ChaCha20-Poly1305, the AEAD this run's suite uses.
        aead = "CHACHA20-POLY1305" if "CHACHA20" in args.cipher else "AES-128-GCM"
        alone = _get(prim, "primitive", aead)
        lines += ["", f"mbedTLS {aead} alone (bench/cipher_cost.c, same run): "
                      f"{_fmt(alone)} CPU s / GiB sealed"]
        relayed = values.get(("CPU s / GiB relayed", "popgate"))
        if relayed and alone:
            lines.append(f"  popgate's CPU s / GiB relayed over that: {relayed / alone:.2f}")
    pe = [n for n in names if n != "popgate"]
    if "popgate" in names and pe:
        lines += ["", "popgate / peer (below 1: popgate uses less)", ""]
        lines.append("".ljust(label_w) + "".join(n.rjust(col_w) for n in pe))
        for label in RATIO_ROWS:
            row = []
            for n in pe:
                mine, theirs = values[(label, "popgate")], values[(label, n)]
                row.append(_fmt(round(mine / theirs, 2)) if mine is not None and theirs
                           else "-")
            lines.append(label.ljust(label_w) + "".join(c.rjust(col_w) for c in row))
    skipped = [f"{n}: {results[n]['skipped']}" for n in names if "skipped" in results[n]]
    if skipped:
        lines += ["", "skipped: " + "; ".join(skipped)]
    return "\n".join(lines)
