{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key=['played_on', 'play_id'],
        on_schema_change='fail',
        pre_hook=["{{ set_work_mem() }}"],
        post_hook=["{{ analyze_relation() }}"],
        indexes=[
            {'columns': ['user_id', 'played_at']},
            {'columns': ['played_on']},
        ],
    )
}}

-- Incremental by whole UTC days of played_at (`played_on`), equal to a full refresh.
-- An incremental run rebuilds the days on which int_plays_sessionized (full history, rebuilt
-- every run) and this table differ in any column, in either direction: new and late plays
-- of any age, plays of a replaced batch or snapshot that changed or vanished, plays whose
-- dedup survivor, session or track/artist key changed. Plus, always, the last
-- `incremental_lookback_days` days. Those days are deleted and re-inserted whole
-- (macros/incremental.sql, strategy `replace_days`); a rebuilt day with no plays left comes
-- through as one marker row (play_id NULL) so that it is emptied. A contract change needs
-- `--full-refresh` (on_schema_change = fail).

with

plays as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        session_id,
        session_play_number,
        {{ utc_date('played_at') }} as played_on

    from {{ ref('int_plays_sessionized') }}

),

{% if is_incremental() %}

rebuilt_days as (

    {{ changed_days('plays', this, 'played_on', [
        'play_id', 'user_id', 'track_key', 'artist_key', 'played_at', 'ms_played',
        'source', 'session_id', 'session_play_number',
    ]) }}

),

final as (

    -- every play of the rebuilt days; a day without plays yields one all-NULL marker row
    select
        plays.play_id,
        plays.user_id,
        plays.track_key,
        plays.artist_key,
        plays.played_at,
        plays.ms_played,
        plays.source,
        plays.session_id,
        plays.session_play_number,
        rebuilt_days.day as played_on

    from rebuilt_days
    left join plays
        on rebuilt_days.day = plays.played_on

)

{% else %}

final as (

    select
        play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        session_id,
        session_play_number,
        played_on

    from plays

)

{% endif %}

select * from final
