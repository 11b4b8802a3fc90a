"""The FastAPI application, assembled: session middleware, security headers, the routers.

`create_app(settings)` wires the index database (migrated to head at start), the object store,
the session key and the status-lookup limiter; the shared dependencies live in web/deps.py,
the pages in web/pages.py, the JSON API in web/api.py, claims in web/claims.py, the keyboard
verify loop's endpoints in web/verify.py. Server-rendered pages: forms post, links get; the
istanza page's keyboard loop is one static script (web/static/verify.js, no inline script).

Concurrency: every handler that touches the database is a plain `def` (FastAPI runs it in its
thread pool), never blocking the event loop; a form body is read asynchronously by the
`form_csrf` dependency. A request holds one pooled connection at a time (web/deps.py).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders

from pipeline import __version__
from pipeline.settings import Settings
from storage.db import database_url, engine_for, upgrade
from web import api, claims, health, images, labels, metrics, pages, search, verify
from web.auth import COOKIE, Session, SessionCodec, as_rome, load_or_create_secret, rome_time
from web.deps import WEB_BUSY_TIMEOUT, WEB_CONNECTIONS, LoginRequired, is_https
from web.i18n import LANGS
from web.ratelimit import TokenBucket

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def app_from_environment() -> FastAPI:
    """The app on the settings of the environment: what each `plico serve --workers N`
    process builds (uvicorn's factory)."""
    from pipeline.settings import get_settings

    return create_app(get_settings())


def create_app(settings: Settings, *, store=None) -> FastAPI:
    from storage.store_url import open_store

    url = database_url(settings)
    upgrade(url)
    app = FastAPI(title="Plico review API", version=__version__,
                  description="Istanze, anomalies and reviewers' decisions; status lookup.",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine_for(url, busy_timeout=WEB_BUSY_TIMEOUT,
                                  connections=WEB_CONNECTIONS)
    app.state.store = store if store is not None else open_store(settings)
    secret = settings.web_secret.get_secret_value() if settings.web_secret else None
    app.state.codec = SessionCodec(load_or_create_secret(secret, Path(settings.data_dir)))
    # each of `web_workers` processes keeps its own buckets, so each takes its share: the
    # kernel spreads a client's connections over them, and the limits hold for the server
    share = settings.web_workers
    app.state.limiter = TokenBucket(settings.status_rate_per_minute / share,
                                    max(1, round(settings.status_burst / share)))
    login_rate = settings.login_rate_per_minute / share
    app.state.login_limiter = TokenBucket(login_rate, max(1, round(login_rate)))
    app.state.rendered = images.RenderCache()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters["urlq"] = lambda s: quote(str(s), safe="")
    app.state.templates.env.filters["rome"] = rome_time
    app.state.templates.env.filters["rome_date"] = lambda t: as_rome(t).strftime("%d/%m/%Y")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(SessionMiddleware)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired):
        if request.headers.get("sec-fetch-dest", "document") not in ("document", "iframe"):
            # a browser's image or script request: 401, not the login page, which would give
            # an image still loading on an expired page a new session, replacing the one
            # whose CSRF token the login form being filled in carries
            return Response(status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    app.add_middleware(metrics.MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(api.router)
    app.include_router(verify.router)
    app.include_router(search.router)
    claims.install(app)
    labels.install(app)
    app.include_router(pages.router)
    pages.install_error_pages(app)
    return app


class SessionMiddleware:
    """The session from the signed cookie into `request.state.session`, written back when it
    changed; the security headers on every response. Plain ASGI (no task or stream per
    request, as BaseHTTPMiddleware has), no I/O: an HMAC check and a few headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        codec: SessionCodec = request.app.state.codec
        session = codec.loads(request.cookies.get(COOKIE))
        fresh = session is None
        if fresh:
            session = Session(dirty=True)
        lang = request.query_params.get("lang")
        if lang in LANGS and lang != session.lang:
            session.lang, session.dirty = lang, True
        request.state.session = session
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # a new anonymous session is sent with a page (its forms carry the session's
                # CSRF token), not with an image, a redirect or a JSON refusal: those, still in
                # flight when an expired page goes to the login, would replace the login
                # form's session and refuse its token
                carried = not fresh or session.user is not None or \
                    headers.get("content-type", "").startswith("text/html")
                if session.dirty and carried:
                    cookie = Response()
                    cookie.set_cookie(COOKIE, codec.dumps(session), httponly=True,
                                      samesite="lax", secure=is_https(request), path="/")
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Content-Security-Policy", CSP)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
