"""`python -m api [--host 127.0.0.1] [--port 8000] [--workers N]`: serve the recommendations
page and the JSON API over HTTP, in N worker processes (default ENCORE_API_WORKERS, 2), each
with its own connection pool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, help="processes (default ENCORE_API_WORKERS)")
    args = parser.parse_args(argv)

    import uvicorn

    from api.app import create_app
    from config import get_settings
    from observability.logs import configure_logging

    configure_logging()
    settings = get_settings()
    workers = args.workers or settings.encore_api_workers
    if settings.encore_api_database_url is None:
        from warehouse.connections import ensure_warehouse

        ensure_warehouse()  # starts the embedded warehouse when it is the one in use
    url = f"http://{args.host}:{args.port}"
    print(
        f"Encore's recommendations page on {url}/ "
        f"(JSON: {url}/recommendations/<user_id>, API docs: {url}/docs)",
        flush=True,
    )
    if workers == 1:
        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    else:  # each worker process builds its own app (and pool) from the factory
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            workers=workers,
            host=args.host,
            port=args.port,
            log_level="info",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
