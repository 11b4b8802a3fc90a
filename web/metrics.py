"""The web app's Prometheus metrics: request latency by method, route template and status
class (an ASGI middleware), and `/metrics` (this process's series and the index's jobs,
pipeline/metrics.py). /metrics answers only when PLICO_METRICS_TOKEN is set, and only to
`Authorization: Bearer <token>`; otherwise it is 404 (not there) or 401. A token rather than a
second port: one port to publish and proxy, and the scraper authenticates."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

from pipeline.metrics import register_index

REQUEST_SECONDS = Histogram("plico_http_request_seconds", "Web request latency by method, "
                            "route template and status class.", ["method", "route", "status"])

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    secret = request.app.state.settings.metrics_token
    if secret is None:
        return Response(status_code=404)
    token = secret.get_secret_value()
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    from storage.db import database_url

    register_index(database_url(request.app.state.settings))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Times every HTTP request; the label is the matched route's template (`/istanza/{kit_id}`),
    never the path (which may hold a code), or `unmatched`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(method=scope.get("method", ""), route=template,
                                   status=f"{status['code'] // 100}xx").observe(
                time.perf_counter() - start)
