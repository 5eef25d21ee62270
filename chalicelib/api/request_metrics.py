"""HTTP middleware: the API's metrics of one request, written once when it has been answered.

Routes and services add to the request's batch through chalicelib.metrics.record (SearchService adds
SearchLatency and SearchResults); this middleware adds what only the answer tells: an upload form
handed out (UploadsCreated) and a refused sign-in (AuthFailures, 401 and 403). Registered outside the
sign-in check so it sees that check's answers. With tracing on, each request is a subsegment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.metrics import MetricsBatch, collecting
from chalicelib.tracing import subsegment

AUTH_FAILURE_STATUSES = (401, 403)


def request_metrics(stage: Callable[[], str]) -> Callable[[Any, Callable[[Any], Response]], Response]:
    def middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
        batch = MetricsBatch(stage())
        with collecting(batch), subsegment(f"{event.method} {event.path}"):
            response = get_response(event)
        if response.status_code in AUTH_FAILURE_STATUSES:
            batch.add("AuthFailures", 1)
        elif event.method == "POST" and event.path == "/uploads" and response.status_code == 201:
            batch.add("UploadsCreated", 1)
        batch.flush()
        return response

    return middleware
