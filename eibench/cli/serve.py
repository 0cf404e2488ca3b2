"""`eibench serve`: the MCP server, over stdio or streamable HTTP."""

from __future__ import annotations

import gc
import os
import signal
import sys

import click

from eibench.cli.options import db_option


def _echo(message: str) -> None:
    # stdout belongs to the MCP protocol on stdio: everything for people goes to stderr.
    click.echo(message, err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _settle() -> None:
    """Move everything loaded at start-up out of the garbage collector's sight.

    The server holds hundreds of thousands of long-lived objects (schemas, the scenario catalogue,
    the SDK); without this a full collection pauses every request for 100 ms or more.
    """
    gc.collect()
    gc.freeze()


@click.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio",
              show_default=True, help="stdio for a client that launches the server (Claude "
                                      "Desktop, Claude Code); http for streamable HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="HTTP: the address to bind. A non-loopback address needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="HTTP: the port (0 picks a free one; the URL is printed on stderr).")
@click.option("--simulator", default="heuristic", show_default=True,
              help="heuristic (offline, rule-based) or provider:model for an LLM simulator.")
@click.option("--base-url", help="Base URL of an OpenAI-compatible server for the simulator.")
@db_option
@click.option("--run-name", help="Record into this run: created, or reused when an earlier "
                                 "`eibench serve` made it (default: a new timestamped run).")
@click.option("--pack", help="A shipped pack name or a pack folder (default: starter).")
@click.option("--official", type=click.Path(file_okay=False), envvar="EIBENCH_OFFICIAL_DIR",
              show_envvar=True, help="Folder with the official EIBench files, instead of a pack.")
@click.option("--reveal-state", is_flag=True,
              help="Show the hidden state while talking, the user persona and the anchors "
                   "(for debugging and teaching; not for measuring).")
@click.option("--token", envvar="EIBENCH_TOKEN", show_envvar=True,
              help="HTTP: require 'Authorization: Bearer <token>' on every request. Prefer the "
                   "environment variable: a command-line token shows in the process list.")
@click.option("--max-message-chars", type=click.IntRange(min=1), default=16_000,
              show_default=True, help="The longest message say accepts (think block included).")
@click.option("--max-conversations", type=click.IntRange(min=1), default=256, show_default=True,
              help="How many conversations may be open at once.")
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), default=900.0,
              show_default=True, help="Close a conversation after this many seconds without a "
                                      "message (recorded as cancelled).")
def serve(transport: str, host: str, port: int, simulator: str, base_url: str | None, db: str,
          run_name: str | None, pack: str | None, official: str | None, reveal_state: bool,
          token: str | None, max_message_chars: int, max_conversations: int,
          idle_timeout: float) -> None:
    """Serve the benchmark over MCP: an agent holds each conversation turn by turn.

    Tools: list_scenarios, start_conversation, say, end_conversation. Every conversation is
    recorded as an episode of one run in the store, so `eibench report` scores it like any other.
    """
    import anyio

    from eibench.harness.store import StoreError
    from eibench.scenarios.loaders import ScenarioError
    from eibench.server.app import create_server
    from eibench.server.conversations import Engine
    from eibench.server.http import bind, endpoint_url, http_app, is_loopback, serve_http
    from eibench.server.settings import ServerSettings

    if pack and official:
        raise click.UsageError("choose one source: --pack or --official")
    if transport == "http" and not token and not is_loopback(host):
        raise click.UsageError(f"--host {host} is reachable from other machines: set a token "
                               "(EIBENCH_TOKEN or --token) or bind to 127.0.0.1")
    if transport == "stdio" and token:
        _echo("note: --token applies to the HTTP transport only; stdio is a private pipe")
    try:
        settings = ServerSettings(
            simulator=simulator, base_url=base_url, db=db, run_name=run_name, pack=pack,
            official=official, reveal_state=reveal_state, max_message_chars=max_message_chars,
            max_conversations=max_conversations, idle_timeout_s=idle_timeout)
        engine = Engine(settings)
        run = engine.open()  # fail fast on a bad store or --run-name, before any client comes
    except (ScenarioError, StoreError, ValueError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    server = create_server(engine=engine)
    interrupted = False
    note = "  (simulator=heuristic: offline stand-in)" if engine.simulator.kind == "heuristic" \
        else ""
    banner = (f"eibench MCP server · run {run.name} · db {db} · {len(engine.catalogue)} "
              f"scenarios from {settings.source} · simulator {engine.simulator.name}{note}")
    try:
        if transport == "stdio":
            _echo(banner + " · stdio")
            _settle()
            signal.signal(signal.SIGTERM, _interrupt)  # close conversations, finish the run
            anyio.run(server.run_stdio_async)
        else:
            try:
                sock = bind(host, port)
            except OSError as exc:
                raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
            url = endpoint_url(sock)
            app = http_app(server, host=host, token=token)
            auth = "bearer token required" if token else "no token"

            def ready() -> None:
                _settle()
                _echo(f"{banner}\nlistening on {url} ({auth})")

            anyio.run(lambda: serve_http(app, sock, on_ready=ready))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        engine.close()
    _echo(f"stopped; `eibench report {run.name} --db {db}` scores the run")
    sys.stdout.flush()
    if interrupted and transport == "stdio":
        # The SDK's stdin reader thread stays blocked on a pipe the client still holds open;
        # everything is recorded and closed, so leave without waiting for it.
        sys.stderr.flush()
        os._exit(0)
