"""The MCP server: an agent holds eibench conversations turn by turn through tools.

``eibench serve`` runs it over stdio or streamable HTTP. Each conversation is an episode of the
server's run in the store, recorded turn by turn through the same dialogue loop as the harness.
"""

from eibench.server.app import create_server, system_prompt
from eibench.server.conversations import Engine
from eibench.server.errors import ConversationError
from eibench.server.settings import ServerSettings

__all__ = ["ConversationError", "Engine", "ServerSettings", "create_server", "system_prompt"]
