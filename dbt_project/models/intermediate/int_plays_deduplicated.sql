-- Duplicate scrobbles collapse: a play of the same track by the same user within
-- `dedup_window_seconds` (inclusive) after the previous one is the same listen. A burst
-- of such plays collapses to its earliest play, which keeps its ms_played and source.
-- Plays at the very same instant keep the longest one.

with

plays as (

    select
        *,
        {{ epoch_us('played_at') }} as played_at_us

    from {{ ref('int_plays_unioned') }}

),

compared as (

    select
        *,
        lag(played_at_us) over (
            partition by user_id, track_key
            order by played_at_us asc, ms_played desc, source asc, batch_id asc
        ) as previous_played_at_us

    from plays

),

deduplicated as (

    select
        {{ hash_key(['user_id', 'track_key', 'played_at_us']) }} as play_id,
        user_id,
        track_key,
        artist_key,
        played_at,
        ms_played,
        source,
        batch_id,
        loaded_at

    from compared
    where
        previous_played_at_us is null
        or played_at_us - previous_played_at_us
        > {{ seconds_us(var('dedup_window_seconds')) }}

)

select * from deduplicated
