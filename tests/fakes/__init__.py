"""Local fake servers for backend tests: OpenAI and Anthropic wire formats, llama.cpp's server."""

from .anthropic_server import FakeAnthropicServer
from .openai_server import FakeOpenAIServer
from .server import Answer, FakeRequest, FakeServer, Fault

__all__ = ["Answer", "FakeAnthropicServer", "FakeOpenAIServer", "FakeRequest", "FakeServer",
           "Fault"]
