"""A tiny image for exercising the node agent: a Python HTTP server.

`navigator-test/http:1` holds one script, `/app/server.py`, and `/app/python`,
a symlink to the host's base interpreter (standard library only), laid over
the host root. The image never refers to the checkout it was built from (a
virtual environment under `/tmp`, say, is invisible in a pod, whose `/tmp` is
private), so clones anywhere share it; tests run `PYTHON` in pods.

Endpoints: ``/`` (hostname), ``/healthz`` (200 unless ``/tmp/unhealthy``
exists), ``/data`` (GET reads, PUT writes ``$DATA_DIR/data``), ``/env`` (the
environment as JSON). SIGTERM is logged and, after ``$TERM_DELAY`` seconds,
ends the server.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from navigator.local.images import Image, ImageConfig, ImageNotFound, build_image, load_image

REF = "navigator-test/http:1"
PYTHON = "/app/python"
ENTRYPOINT = (PYTHON, "-u", "/app/server.py")

SERVER = r"""
import http.server, json, os, signal, socket, sys, threading, time

PORT = int(os.environ.get("HTTP_PORT", "8080"))
DATA = os.path.join(os.environ.get("DATA_DIR", "/data"), "data")


class Handler(http.server.BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            bad = os.path.exists("/tmp/unhealthy")
            return self._send(500 if bad else 200, "unhealthy" if bad else "ok")
        if self.path == "/data":
            try:
                with open(DATA) as fh:
                    return self._send(200, fh.read())
            except OSError:
                return self._send(404, "no data")
        if self.path == "/env":
            return self._send(200, json.dumps(dict(os.environ)))
        return self._send(200, socket.gethostname())

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(DATA, "wb") as fh:
            fh.write(body)
        self._send(200, "stored")

    def log_message(self, fmt, *args):
        print("request " + fmt % args, flush=True)


def on_term(signum, frame):
    print("got SIGTERM", flush=True)
    delay = float(os.environ.get("TERM_DELAY", "0"))
    threading.Thread(target=lambda: (time.sleep(delay), os._exit(0)), daemon=True).start()


signal.signal(signal.SIGTERM, on_term)
server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
print(f"serving on {PORT} as {socket.gethostname()}", flush=True)
server.serve_forever()
"""


def host_python() -> str:
    """The real path of the base interpreter behind this (maybe virtual) environment.

    Pods see the host root except `/tmp`, `/proc`, `/sys` and `/dev`, so a
    virtual environment's `bin/python` (or a checkout) under `/tmp` is out of
    their reach; the interpreter it links to is not.
    """
    python = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    top = python.split("/")[1] if python.count("/") > 1 else ""
    if top in ("tmp", "proc", "sys", "dev"):
        raise RuntimeError(f"the Python interpreter {python} is not visible inside pods")
    return python


def ensure_test_image(root: Path | None = None) -> Image:
    """Build the image unless the store already has this exact version of it."""
    python = host_python()
    try:
        image = load_image(REF, root)
        current = (
            (image.layer / "app" / "server.py").read_text() == SERVER
            and os.readlink(image.layer / "app" / "python") == python
            and image.entrypoint == ENTRYPOINT
        )
        if current:
            return image
    except (ImageNotFound, OSError):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp) / "layer"
        (layer / "app").mkdir(parents=True)
        (layer / "app" / "server.py").write_text(SERVER)
        (layer / "app" / "python").symlink_to(python)
        config = ImageConfig(
            entrypoint=ENTRYPOINT,
            env=("PYTHONDONTWRITEBYTECODE=1",),
            working_dir="/app",
        )
        return build_image(REF, layer, config, root)
