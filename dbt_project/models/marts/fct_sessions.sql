{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key=['session_started_on', 'session_id'],
        on_schema_change='fail',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ analyze_relation() }}"],
        indexes=[
            {'columns': ['user_id', 'session_started_at']},
            {'columns': ['session_started_on']},
        ],
    )
}}

-- Incremental by whole UTC days of the session start (`session_started_on`), equal to a
-- full refresh: a session's row depends on all its plays, so a session belongs to the day
-- it started, whatever day its later plays fall on. An incremental run rebuilds the start
-- days on which the sessions aggregated from int_plays_sessionized and this table differ
-- (a late play that joins, splits or merges sessions changes or removes the rows of their
-- start days, and they differ), plus the last `incremental_lookback_days` start days; see
-- fct_plays and macros/incremental.sql (strategy `replace_days`, marker rows with a NULL
-- session_id for start days left without sessions). session_span_minutes follows from the
-- two timestamps and is not compared.

with

plays as (

    select * from {{ ref('int_plays_sessionized') }}

),

sessions as (

    select
        session_id,
        user_id,
        min(played_at) as session_started_at,
        max(played_at) as session_last_played_at,
        cast(count(*) as bigint) as play_count,
        cast(count(distinct track_key) as bigint) as distinct_track_count,
        cast(sum(ms_played) as bigint) as total_ms_played

    from plays
    group by session_id, user_id

),

sessions_by_day as (

    select
        session_id,
        user_id,
        session_started_at,
        session_last_played_at,
        cast(
            ({{ epoch_us('session_last_played_at') }} - {{ epoch_us('session_started_at') }})
            / 60000000.0
            as double precision
        ) as session_span_minutes,
        play_count,
        distinct_track_count,
        total_ms_played,
        {{ utc_date('session_started_at') }} as session_started_on

    from sessions

),

{% if is_incremental() %}

rebuilt_days as (

    {{ changed_days('sessions_by_day', this, 'session_started_on', [
        'session_id', 'user_id', 'session_started_at', 'session_last_played_at',
        'play_count', 'distinct_track_count', 'total_ms_played',
    ]) }}

),

final as (

    -- every session of the rebuilt start days; a day without sessions yields one
    -- all-NULL marker row
    select
        sessions_by_day.session_id,
        sessions_by_day.user_id,
        sessions_by_day.session_started_at,
        sessions_by_day.session_last_played_at,
        sessions_by_day.session_span_minutes,
        sessions_by_day.play_count,
        sessions_by_day.distinct_track_count,
        sessions_by_day.total_ms_played,
        rebuilt_days.day as session_started_on

    from rebuilt_days
    left join sessions_by_day
        on rebuilt_days.day = sessions_by_day.session_started_on

)

{% else %}

final as (

    select
        session_id,
        user_id,
        session_started_at,
        session_last_played_at,
        session_span_minutes,
        play_count,
        distinct_track_count,
        total_ms_played,
        session_started_on

    from sessions_by_day

)

{% endif %}

select * from final
