-- The label is NULL exactly when the pair is censored, and censoring is exactly
-- "first_played_at + repeat_window_days > observed_until".

select
    user_id,
    track_key,
    first_played_at,
    observed_until,
    is_censored,
    repeat_30d

from {{ ref('fct_first_plays') }}
where
    (repeat_30d is null) != is_censored
    or is_censored
    != ({{ add_days('first_played_at', var('repeat_window_days')) }} > observed_until)
