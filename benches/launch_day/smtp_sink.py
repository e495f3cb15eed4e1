"""A tiny SMTP sink on asyncio: plain SMTP (no TLS, no auth), every message kept in memory with the
time it was received, and waiters for "the next message to ADDRESS whose subject matches".

Python 3.11 no longer ships `smtpd`; this covers what lettre sends (EHLO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT) and nothing more. Run alone to watch mail arrive:

    python3 benches/launch_day/smtp_sink.py 2525
"""
import asyncio
import email
import email.policy
import re
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Mail:
    received: float  # time.time() when the final "." arrived
    rcpt: list
    subject: str
    text: str
    message_id: str

    def links(self):
        return re.findall(r"https?://[^\s<>\"')]+", self.text)


@dataclass
class Sink:
    mails: list = field(default_factory=list)
    by_rcpt: dict = field(default_factory=dict)
    waiters: dict = field(default_factory=dict)
    connections: int = 0
    server: object = None
    writers: set = field(default_factory=set)

    async def start(self, host="127.0.0.1", port=0):
        self.server = await asyncio.start_server(self._session, host, port, backlog=256)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        if self.server:
            self.server.close()
            for w in list(self.writers):
                w.close()
            await asyncio.sleep(0.1)  # let the sessions see their end
            await self.server.wait_closed()

    def _store(self, rcpts, data: bytes):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        try:
            body = msg.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
        except Exception:  # a message we cannot read is still counted
            text = data.decode("utf-8", "replace")
        mail = Mail(time.time(), [r.lower() for r in rcpts], str(msg.get("Subject", "")), text,
                    str(msg.get("Message-ID", "")))
        self.mails.append(mail)
        for r in mail.rcpt:
            self.by_rcpt.setdefault(r, []).append(mail)
            for fut, pattern, seen in list(self.waiters.get(r, [])):
                if not fut.done() and re.search(pattern, mail.subject) and mail not in seen:
                    fut.set_result(mail)

    async def wait_for(self, rcpt: str, pattern: str, timeout: float, skip=()):
        """The first message to `rcpt` whose subject matches `pattern` (a regex), not in `skip`."""
        rcpt = rcpt.lower()
        for mail in self.by_rcpt.get(rcpt, []):
            if re.search(pattern, mail.subject) and mail not in skip:
                return mail
        fut = asyncio.get_running_loop().create_future()
        entry = (fut, pattern, list(skip))
        self.waiters.setdefault(rcpt, []).append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.waiters[rcpt].remove(entry)

    def count(self, rcpt: str, pattern: str) -> int:
        return sum(1 for m in self.by_rcpt.get(rcpt.lower(), []) if re.search(pattern, m.subject))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        self.writers.add(writer)

        async def say(line: str):
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        rcpts = []
        try:
            await say("220 sink ESMTP")
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode("utf-8", "replace").strip()
                verb = cmd[:4].upper()
                if verb in ("EHLO",):
                    await say("250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
                elif verb == "HELO":
                    await say("250 sink")
                elif verb == "MAIL":
                    rcpts = []
                    await say("250 OK")
                elif verb == "RCPT":
                    m = re.search(r"<([^>]*)>", cmd)
                    rcpts.append(m.group(1) if m else cmd[8:].strip())
                    await say("250 OK")
                elif verb == "DATA":
                    await say("354 end with .")
                    chunks = []
                    while True:
                        l = await reader.readline()
                        if not l or l in (b".\r\n", b".\n"):
                            break
                        if l.startswith(b".."):
                            l = l[1:]
                        chunks.append(l)
                    self._store(rcpts, b"".join(chunks))
                    rcpts = []
                    await say("250 OK queued")
                elif verb == "RSET":
                    rcpts = []
                    await say("250 OK")
                elif verb == "NOOP":
                    await say("250 OK")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 not implemented")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def _main(port: int):
    sink = Sink()
    port = await sink.start(port=port)
    print(f"SMTP sink on 127.0.0.1:{port}", flush=True)
    seen = 0
    while True:
        await asyncio.sleep(0.5)
        for m in sink.mails[seen:]:
            print(f"{time.strftime('%H:%M:%S')} {','.join(m.rcpt)}: {m.subject}", flush=True)
        seen = len(sink.mails)


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 2525))
