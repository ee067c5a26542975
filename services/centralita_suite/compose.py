"""The composition root: the parts that run together in one process are put together here, and only here.

``call_gateway`` and ``chat`` do not import each other; this module mounts the text chat
(``POST /v1/chat``) on the gateway's HTTP port, over the gateway's own tool dispatcher. It is what
``centralita serve call_gateway`` runs (``python -m centralita_suite.compose`` is the same).
"""

from __future__ import annotations

import logging
import sys

from call_gateway.server import HttpRoute
from call_gateway.server import main as gateway_main
from centralita.config import env_bool
from chat.engine import ChatError
from chat.http_api import PATH, ChatService, handle_chat

log = logging.getLogger("centralita_suite.compose")


def chat_route(service: ChatService) -> HttpRoute:
    """``POST /v1/chat`` served by ``service`` on whatever HTTP server mounts the route."""
    return HttpRoute(PATH, lambda handler: handle_chat(handler, service), service.close)


def mount_chat(gw) -> HttpRoute | None:
    """The text chat on the gateway's port and tools (seed 003's route handler), unless disabled."""
    if not env_bool("GATEWAY_CHAT_ENABLED", True):
        return None
    try:
        return chat_route(ChatService(gw.dispatcher))
    except ChatError as exc:
        log.warning("POST /v1/chat disabled: %s", exc)
        return None


def main(argv: list[str] | None = None) -> int:
    """The gateway process with the chat mounted (what the container and ``centralita run`` start)."""
    return gateway_main(argv, mounts=[mount_chat])


if __name__ == "__main__":
    sys.exit(main())
