"""Errors the server reports to the agent (they become MCP tool errors, never crashes)."""

from __future__ import annotations


class ConversationError(Exception):
    """A request the server refuses, with a message that says what is wrong and what to do."""
