"""`/healthz` (the process answers) and `/readyz` (the index database, the object store and
the broker answer; 503 otherwise), for load balancers and orchestrators. No login, no
details beyond each check's name and outcome (the reasons are in `plico doctor`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    from sqlalchemy import text

    from pipeline.doctor import check_broker, check_database
    from storage.objects_local import LocalObjectStore

    settings = request.app.state.settings
    checks = {"database": check_database(settings).ok}
    if checks["database"]:
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any fault here means "not ready"
            checks["database"] = False
    store = request.app.state.store
    try:
        if isinstance(store, LocalObjectStore):
            store.ensure_bucket()  # the folder is made at the first write anyway
            checks["object_store"] = True
        else:
            checks["object_store"] = store.bucket_exists()
    except Exception:  # noqa: BLE001 - any fault here means "not ready"
        checks["object_store"] = False
    checks["broker"] = check_broker(settings).ok
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
