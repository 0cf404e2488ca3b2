"""Start llama.cpp's OpenAI-compatible server on the packaged SmolLM2 GGUF, for end-to-end tests.

    with llama_server() as base_url:        # e.g. "http://127.0.0.1:43121/v1"
        backend = get_backend("openai:smollm2", base_url=base_url)

``llama_server_available()`` says whether it can run here (llama-cpp-python with its ``server``
extra, and the weights); tests should skip when it returns a reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

__all__ = ["free_port", "llama_server", "llama_server_available"]

#: modules ``python -m llama_cpp.server`` imports (its ``[server]`` extra)
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                  "pydantic_settings")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_server_available() -> str | None:
    """``None`` when the server can start here, else the reason it cannot."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return f"llama.cpp server needs {', '.join(missing)} (pip install 'llama-cpp-python[server]')"
    from eibench.simulator.backends.base import MissingDependency
    from eibench.simulator.backends.llama_backend import resolve_model

    try:
        resolve_model("smollm2")
    except MissingDependency as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def llama_server(model: str | Path | None = None, *, startup_timeout: float = 60.0,
                 n_ctx: int = 2048) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free port; yield its ``/v1`` base URL.

    Args:
        model: a GGUF path; defaults to the packaged SmolLM2 weights.
        startup_timeout: seconds to wait for the server to answer ``GET /v1/models``.
        n_ctx: context window.

    Raises:
        RuntimeError: the server exited or did not answer in time (its output is in the message).
    """
    from eibench.simulator.backends.llama_backend import resolve_model

    path = Path(model) if model is not None else resolve_model("smollm2")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx)]
    # A file, not a pipe: an unread pipe fills up and blocks the server's logging.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(proc, log, f"{base_url}/models", startup_timeout)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_until_up(proc: subprocess.Popen[bytes], log: IO[bytes], url: str,
                   timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            output = log.read().decode("utf-8", "replace")
            raise RuntimeError(f"llama.cpp server exited with {proc.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama.cpp server did not answer within {timeout}s")
        time.sleep(0.2)
