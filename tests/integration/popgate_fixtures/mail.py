"""Test messages as exact bytes. Messages are written with CRLF line ends, as they appear on the
wire (RFC 1939 §3); the Maildir writer stores them with LF, as delivery agents do, and Dovecot
turns LF back into CRLF when it sends them."""

import hashlib


def message(subject, body_lines, sender="alice@example.test", to="bob@example.test"):
    """A small RFC 5322 message; body_lines without line ends."""
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
            "Date: Mon, 03 Jun 2024 10:00:00 +0000",
            f"Message-ID: <{hashlib.sha1(subject.encode()).hexdigest()[:16]}@example.test>"]
    return ("\r\n".join(head + [""] + list(body_lines)) + "\r\n").encode()


def dot_message():
    """Lines starting with "." must be byte-stuffed on the wire (RFC 1939 §3)."""
    return message("dots", [
        "The next line starts with a dot:",
        ".hidden",
        "..two dots",
        ".",
        "and a lone dot above; still not the end.",
    ])


def big_message(size=10 * 1024 * 1024 + 123):
    """A message of at least `size` bytes with varied, deterministic content and some dot lines,
    so a proxy that drops, reorders or unstuffs bytes is caught."""
    lines = []
    total = 0
    i = 0
    while total < size:
        if i % 97 == 0:
            line = f".dot line {i}"
        else:
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            line = f"{i:08d} {digest} {digest[:40]}"
        lines.append(line)
        total += len(line) + 2
        i += 1
    return message("big", lines)


def to_maildir_bytes(wire_message):
    return wire_message.replace(b"\r\n", b"\n")


def stuff(wire_message):
    """The RETR body as sent on the wire: byte-stuffed, then the terminating "." line."""
    lines = wire_message.split(b"\r\n")
    assert lines[-1] == b"", "message must end with CRLF"
    stuffed = [b"." + l if l.startswith(b".") else l for l in lines[:-1]]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"
