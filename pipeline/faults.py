"""Faults of the pipeline's services, sorted: a transient one (a database, object store or
broker that could not be reached) is retried, anything else is permanent. What leaves an
actor is the error's class only (`Fault`), never its text."""

from __future__ import annotations

import functools
from collections.abc import Callable


def is_transient(exc: BaseException) -> bool:
    """A fault that goes away by itself: a service (database, object store, broker) that could
    not be reached or dropped the connection. Looks through the chain of causes."""
    import sqlalchemy.exc as sa_exc

    from storage.objects import StorageUnavailableError

    transient: tuple[type[BaseException], ...] = (
        ConnectionError, TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError,
        sa_exc.DisconnectionError, StorageUnavailableError,
    )
    try:
        import urllib3.exceptions as u3

        transient += (u3.HTTPError,)
    except ImportError:  # minio brings urllib3; without it there is no S3 backend
        pass
    from dramatiq.errors import BrokerConnectionError

    transient += (BrokerConnectionError,)
    try:
        import redis.exceptions

        transient += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                      redis.exceptions.BusyLoadingError)
    except ImportError:  # the Redis broker's client: absent, no Redis broker
        pass
    try:
        import pika.exceptions

        transient += (pika.exceptions.AMQPConnectionError, pika.exceptions.StreamLostError)
    except ImportError:
        pass
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, transient) or getattr(exc, "transient", False):
            return True
        if type(exc).__name__ in ("ServerError",):  # minio: the S3 server answered 5xx
            return True
        if isinstance(exc, OSError) and exc.errno is not None and exc.errno in _NET_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_NET_ERRNOS = {104, 110, 111, 112, 113, 32}  # reset, timed out, refused, host down/unreachable, pipe


class Fault(Exception):
    """What leaves an actor in place of its error: the error's class only. dramatiq logs an
    actor's exception with its text, and a database error's text quotes the SQL parameters
    (a record, a file name): personal data never goes to the log."""

    def __init__(self, name: str, transient: bool) -> None:
        super().__init__(name)
        self.transient = transient


def sanitised(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def actor_body(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error leaves as a Fault
            raise Fault(type(exc).__name__, is_transient(exc)) from None

    return actor_body


def describe(exc: BaseException) -> str:
    # stored in the index (not logged): an error text may quote a file name
    return f"{type(exc).__name__}: {exc}"[:1000]
