#!/usr/bin/env python3
"""A real SMTP server on localhost for the e-mail tests (aiosmtpd).

Usage: smtp_sink.py DIR
Listens on 127.0.0.1 on a free port, prints "PORT <n>" on stdout once ready, and writes every
accepted message to DIR/<seq>.json as {"mail_from", "rcpt_tos", "subject", "body", "raw"}
(subject and body decoded). Recipients steer failures, so tests can provoke them:
  *reject*   -> 550 5.1.1 at RCPT (a bounce)
  *tempfail* -> 451 4.3.0 at RCPT (try again later)
Runs until killed or stdin closes.
"""
import asyncio
import email
import email.policy
import itertools
import json
import os
import socket
import sys
import threading

try:
    from aiosmtpd.controller import Controller
except ImportError:
    print("ERROR aiosmtpd is not installed: python3 -m pip install aiosmtpd", flush=True)
    sys.exit(3)


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.seq = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "reject" in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if "tempfail" in address:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg["subject"]),
            "body": part.get_content() if part is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        with self.lock:
            n = next(self.seq)
        tmp = os.path.join(self.directory, "%06d.json.partial" % n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        # Rename after writing so a reader never sees half a message.
        os.rename(tmp, os.path.join(self.directory, "%06d.json" % n))
        return "250 Message accepted for delivery"


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    # aiosmtpd's Controller connects to its own port to check it started, so port 0 will
    # not do: ask the OS for a free port first.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("PORT %d" % port, flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or kills us)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
