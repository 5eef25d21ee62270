"""The web page (web/) served beside the API on the local stack's port: GET / and GET /web/<file>.

The page is static files calling the public API, deployed in AWS as static files beside the API
(docs/DEPLOY.md), not as a Lambda route: so it is served here by the local HTTP server rather than by
the Chalice app, and every stage's app, route table, OpenAPI description and Lambda package stay the
same. Every other request goes to the Chalice app exactly as `chalice local` handles it.
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path

from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalDevServer, create_local_server

from devstack.stage import PROJECT_DIR

WEB_DIR = PROJECT_DIR / "web"
PAGE_PREFIX = "/web/"


def page_file(path: str, root: Path = WEB_DIR) -> Path | None:
    """The file a GET of `path` serves, or None when the path is the API's."""
    path = path.split("?", 1)[0]
    if path in ("/", "/index.html"):
        return root / "index.html"
    if not path.startswith(PAGE_PREFIX):
        return None
    candidate = (root / path.removeprefix(PAGE_PREFIX)).resolve()
    # Only files inside web/: a "/web/../app.py" must not reach the rest of the project.
    return candidate if candidate.is_relative_to(root.resolve()) and candidate.is_file() else root / "missing"


class ApiAndPageHandler(ChaliceRequestHandler):
    def do_GET(self) -> None:
        file = page_file(self.path)
        if file is None:
            self._generic_handle()
        elif not file.is_file():
            self._send_http_response(404, {"Content-Type": "text/plain; charset=utf-8"}, "not found\n")
        else:
            content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            # no-store: an edited page shows on the next reload, without a stale module cached.
            headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
            self._send_http_response(200, headers, file.read_bytes())


def serve_api_and_page(app, config, host: str, port: int) -> LocalDevServer:
    # chalice local's own server first: it also makes the app's `current_request` thread-local, without
    # which concurrent requests read each other's bodies. Then the handler that adds the page.
    if isinstance(app, CustomLocalChalice):
        # A stack started before in this process (the test suite starts several) already turned the
        # app into chalice local's class; chalice would make that class its own base (a TypeError).
        app.__class__ = CustomLocalChalice.__bases__[1]
    server = create_local_server(app, config, host, port)
    server.server.RequestHandlerClass = functools.partial(ApiAndPageHandler, app_object=app, config=config)
    return server
