"""`GET /recommendations/{user_id}`: the current publish's ranked list for one user.

Reads `serving.recommendations` and `serving.tracks` (the same current publish, from one
statement's snapshot) as the read-only role; OpenAPI at /openapi.json, docs at /docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import anyio.to_thread
import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from api.db import TOP_LIST, get_pool, open_pool, reader_url
from api.pages import router as pages
from config import get_settings

USER_ID_PATTERN = r"^[\w.@+-]+$"
MAX_LIMIT = 100

_CURRENT = "select publish_id, model_version, generated_at from serving.publishes where is_current"


class Recommendation(BaseModel):
    rank: int = Field(description="1 = best")
    track_key: str = Field(description="canonical track identity, e.g. spotify:<id>")
    track_name: str | None
    artist_name: str | None
    genre: str | None
    score: float = Field(description="predicted probability of a repeat within 30 days")
    reason: str


class UserRecommendations(BaseModel):
    user_id: str
    model_version: str
    generated_at: datetime = Field(description="when the list was published")
    as_of: datetime = Field(
        description="the listener's clock: the time the list is as of (their latest play "
        "for an exported history, the run's date for a live source)"
    )
    items: list[Recommendation]


class Health(BaseModel):
    status: str
    database_role: str | None = None
    publish_id: int | None = None
    model_version: str | None = None
    generated_at: datetime | None = None


class Problem(BaseModel):
    detail: str


def create_app(
    url: str | None = None, pool_size: int | None = None, threads: int | None = None
) -> FastAPI:
    """The app; `url` defaults to api.db.reader_url() (recs_reader on the warehouse),
    `pool_size` to ENCORE_API_POOL_SIZE and `threads` (the requests served at once, each on
    a worker thread) to ENCORE_API_THREADS."""
    settings = get_settings()
    threads = threads or settings.encore_api_threads

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        app.state.pool.close()

    app = FastAPI(
        title="Encore recommendations",
        version="1.0",
        description="Read-only access to the published recommendations "
        "(`serving.recommendations`): each user's ranked tracks from the current "
        "publish, with the model version, the publish time and the time "
        "the list is as of (the listener's clock).",
        lifespan=lifespan,
    )
    app.state.pool = open_pool(url or reader_url(), pool_size or settings.encore_api_pool_size)
    app.include_router(pages)

    @app.get(
        "/recommendations/{user_id}",
        response_model=UserRecommendations,
        responses={
            404: {"model": Problem, "description": "no recommendations for this user"},
            503: {"model": Problem, "description": "warehouse unavailable or empty"},
        },
    )
    def recommendations(
        pool: Annotated[ConnectionPool, Depends(get_pool)],
        user_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=128,
                pattern=USER_ID_PATTERN,
                description="listener id, e.g. syn_u00001",
            ),
        ],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many, best first")] = 20,
    ) -> UserRecommendations:
        """The user's recommendations from the current publish, best first."""
        try:
            with pool.connection() as conn:
                rows = conn.execute(TOP_LIST, [user_id, limit]).fetchall()
                current = None if rows else conn.execute(_CURRENT).fetchone()
        except psycopg.Error as exc:
            raise HTTPException(503, f"warehouse unavailable: {type(exc).__name__}") from exc
        if not rows:
            if current is None:
                raise HTTPException(503, "no recommendations have been published yet")
            raise HTTPException(
                404,
                f"no recommendations for user {user_id!r} in the current publish "
                f"(model {current[1]}): unknown user, or not active in the 30 days "
                "before it; user ids are case-sensitive",
            )
        return UserRecommendations(
            user_id=user_id,
            model_version=rows[0][7],
            generated_at=rows[0][8],
            as_of=rows[0][9],
            items=[
                Recommendation(
                    rank=r[0],
                    track_key=r[1],
                    track_name=r[2],
                    artist_name=r[3],
                    genre=r[4],
                    score=r[5],
                    reason=r[6],
                )
                for r in rows
            ],
        )

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(pool: Annotated[ConnectionPool, Depends(get_pool)]) -> Health | JSONResponse:
        """The database is reachable; which publish is current."""
        try:
            with pool.connection() as conn:
                row = conn.execute("select current_user").fetchone()
                assert row is not None
                (role,) = row
                current = conn.execute(_CURRENT).fetchone()
        except psycopg.Error:
            return JSONResponse(
                Health(status="unavailable").model_dump(mode="json"), status_code=503
            )
        if current is None:
            return Health(status="no publish yet", database_role=role)
        return Health(
            status="ok",
            database_role=role,
            publish_id=current[0],
            model_version=current[1],
            generated_at=current[2],
        )

    return app
