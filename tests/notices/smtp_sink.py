"""An SMTP server run as a process for the notices' tests and benchmark (aiosmtpd): it appends one line per
accepted message to a file, ``<Message-ID> <recipient count>``, so a test can count messages and distinct ids from
another process, across a relay's kill.

    python tests/notices/smtp_sink.py PORT RECORD_FILE [DELAY_MS]

``DELAY_MS`` slows every message (so a test can kill a relay in the middle of a batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path: str, delay: float) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        with self.lock:
            self.out.write(f"{headers.get('Message-ID', '-')} {len(envelope.rcpt_tos)}\n")
            self.out.flush()
        return "250 Message accepted"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    delay = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0
    controller = Controller(Recorder(path, delay), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
