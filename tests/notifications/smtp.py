"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), which can be told to refuse."""

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

REFUSAL = "451 4.3.0 Mailbox busy, try again later"


class RecordingHandler:
    """Accepts messages and keeps them; refuses the next ``refusals`` (or all, with -1)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusals = 0
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            if self.refusals > 0:
                self.refusals -= 1
            self.refused += 1
            return REFUSAL
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


class LocalSmtpServer(Controller):
    """Listens on a free port (bound as port 0, so parallel test runs do not collide)."""

    def __init__(self, handler: RecordingHandler) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0)
        self.handler = handler

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
