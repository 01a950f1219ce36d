{{
    config(
        materialized='table',
        pre_hook=["{{ set_work_mem('512MB') }}"],
        post_hook=["{{ disable_autovacuum() }}", "{{ analyze_relation() }}"],
    )
}}

-- Item-item co-listening neighbours per snapshot (macros/colisten.sql): two tracks are
-- co-listened when one user plays them within `colisten_max_distance` plays of each other
-- in the same session. For the snapshot at S, n_users counts the distinct users who
-- co-listened the pair in [S - colisten_snapshot_days, S), the pair dated by its later
-- play (so every play counted is strictly before S). Pairs co-listened by fewer than
-- `colisten_min_users` users are dropped; each track keeps its `colisten_neighbours`
-- strongest neighbours (then by track_key). The sorts run on integer surrogate keys and
-- timestamps: a session is its listener and its start (session_id hashes the two).

with

sessionized as (

    select
        user_id,
        track_key,
        session_started_at,
        session_play_number,
        played_at

    from {{ ref('int_plays_sessionized') }}

),

distinct_tracks as (

    select distinct track_key from sessionized

),

track_nums as (

    select
        track_key,
        row_number() over (order by track_key) as track_num

    from distinct_tracks

),

distinct_users as (

    select distinct user_id from sessionized

),

user_nums as (

    select
        user_id,
        row_number() over (order by user_id) as user_num

    from distinct_users

),

plays as (

    select
        user_nums.user_num,
        track_nums.track_num,
        sessionized.session_started_at,
        sessionized.session_play_number,
        {{ epoch_us('sessionized.played_at') }} as played_at_us

    from sessionized
    inner join track_nums
        on sessionized.track_key = track_nums.track_key
    inner join user_nums
        on sessionized.user_id = user_nums.user_id

),

followed as (

    select
        {%- for k in range(1, (var('colisten_max_distance') | int(3)) + 1) %}
        lead(track_num, {{ k }}) over (
            partition by user_num, session_started_at order by session_play_number
        ) as next_track_num_{{ k }},
        lead(played_at_us, {{ k }}) over (
            partition by user_num, session_started_at order by session_play_number
        ) as next_played_at_us_{{ k }},
        {%- endfor %}
        user_num,
        track_num

    from plays

),

pairs as (

    {%- for k in range(1, (var('colisten_max_distance') | int(3)) + 1) %}
    select
        user_num,
        case
            when track_num < next_track_num_{{ k }} then track_num else next_track_num_{{ k }}
        end as track_a,
        case
            when track_num < next_track_num_{{ k }} then next_track_num_{{ k }} else track_num
        end as track_b,
        {{ colisten_snapshot_of_play('next_played_at_us_' ~ k) }} as snapshot_at_us

    from followed
    where next_track_num_{{ k }} is not null and next_track_num_{{ k }} <> track_num
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

pair_counts as (

    select
        snapshot_at_us,
        track_a,
        track_b,
        count(distinct user_num) as n_users

    from pairs
    group by snapshot_at_us, track_a, track_b
    having count(distinct user_num) >= {{ var('colisten_min_users') }}

),

both_ways as (

    select
        snapshot_at_us,
        track_a as track_num,
        track_b as neighbour_track_num,
        n_users

    from pair_counts

    union all

    select
        snapshot_at_us,
        track_b as track_num,
        track_a as neighbour_track_num,
        n_users

    from pair_counts

),

ranked as (

    select
        snapshot_at_us,
        track_num,
        neighbour_track_num,
        n_users,
        -- track_num follows track_key order, so ties break by track_key
        row_number() over (
            partition by snapshot_at_us, track_num
            order by n_users desc, neighbour_track_num asc
        ) as neighbour_rank

    from both_ways

)

select
    ranked.snapshot_at_us,
    tracks.track_key,
    neighbour_tracks.track_key as neighbour_track_key,
    cast(ranked.n_users as bigint) as n_users,
    cast(ranked.neighbour_rank as integer) as neighbour_rank

from ranked
inner join track_nums as tracks
    on ranked.track_num = tracks.track_num
inner join track_nums as neighbour_tracks
    on ranked.neighbour_track_num = neighbour_tracks.track_num
where ranked.neighbour_rank <= {{ var('colisten_neighbours') }}
