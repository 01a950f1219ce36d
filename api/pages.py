"""The recommendations page for people: `GET /` (find a listener by name) and
`GET /listeners/{user_id}` (their top 20 with reasons, their last 30 days of listening, the
model and when it was published). Server-rendered HTML (Jinja2), no JavaScript; it reads
only `serving`, as the read-only role, like the JSON endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from psycopg_pool import ConnectionPool

from api.db import TOP_LIST, get_pool

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
CHART_DAYS = 30
LIST_LENGTH = 20
SEARCH_LIMIT = 20

_SEARCH = """
select user_id, username, clock, plays_30d
from serving.listeners
where username ilike %(pattern)s escape '\\' or user_id = %(q)s
order by plays_30d desc, user_id
limit %(limit)s
"""
_MOST_ACTIVE = """
select user_id, username, clock, plays_30d
from serving.listeners
order by plays_30d desc, user_id
limit %(limit)s
"""
_LISTENER = "select user_id, username, clock, plays_30d from serving.listeners where user_id = %s"
_DAYS = """
select play_date, plays from serving.listener_daily_plays where user_id = %s order by play_date
"""
_PUBLISH = """
select model_version, coalesce(published_at, generated_at)
from serving.publishes where is_current
"""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Bar:
    day: date
    plays: int
    height: float  # share of the tallest day, 0..1


def chart(days: list[tuple[date, int]], clock: datetime) -> list[Bar]:
    """One bar per UTC day that the `CHART_DAYS` days up to `clock` touch (30, or 31 when
    the clock is not at midnight), zero where nothing played."""
    plays = dict(days)
    first = (clock - timedelta(days=CHART_DAYS)).date()
    last = (clock - timedelta(microseconds=1)).date()
    span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    tallest = max((plays.get(day, 0) for day in span), default=0) or 1
    return [Bar(day, plays.get(day, 0), plays.get(day, 0) / tallest) for day in span]


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)


def _unavailable(request: Request, exc: psycopg.Error) -> HTMLResponse:
    return _render(
        request,
        "problem.html",
        503,
        title="The warehouse is unavailable",
        message=f"Encore could not reach its warehouse ({type(exc).__name__}). "
        "Try again in a moment.",
    )


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    pool: Annotated[ConnectionPool, Depends(get_pool)],
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Find a listener by name (or id); without a query, the most active ones."""
    q = q.strip()
    try:
        with pool.connection() as conn:
            if q:
                rows = conn.execute(
                    _SEARCH, {"pattern": _like(q), "q": q, "limit": SEARCH_LIMIT}
                ).fetchall()
            else:
                rows = conn.execute(_MOST_ACTIVE, {"limit": 10}).fetchall()
            publish = conn.execute(_PUBLISH).fetchone()
    except psycopg.Error as exc:
        return _unavailable(request, exc)
    return _render(request, "index.html", q=q, listeners=rows, publish=publish)


@router.get("/listeners/{user_id}", response_class=HTMLResponse)
def listener(
    request: Request, pool: Annotated[ConnectionPool, Depends(get_pool)], user_id: str
) -> HTMLResponse:
    """A listener's list, why each track is on it, and their last 30 days."""
    try:
        with pool.connection() as conn:
            found = conn.execute(_LISTENER, [user_id]).fetchone()
            items = conn.execute(TOP_LIST, [user_id, LIST_LENGTH]).fetchall()
            days = conn.execute(_DAYS, [user_id]).fetchall()
            publish = conn.execute(_PUBLISH).fetchone()
    except psycopg.Error as exc:
        return _unavailable(request, exc)
    if found is None:
        return _render(
            request,
            "problem.html",
            404,
            title="No such listener",
            message=f"Encore knows no listener {user_id!r}. Listener ids are case-sensitive; "
            "search by name instead.",
        )
    _, username, clock, plays_30d = found
    return _render(
        request,
        "listener.html",
        user_id=user_id,
        username=username or user_id,
        clock=clock,
        plays_30d=plays_30d,
        items=items,
        bars=chart(days, clock),
        publish=publish,
    )
