-- Latest snapshot of every user across load batches (by loaded_at).
-- Other user sources (e.g. Last.fm profiles) are added to `user_versions`.

with

user_versions as (

    select * from {{ ref('stg_synthetic__users') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by user_id
            order by loaded_at desc, logical_date desc, batch_id desc
        ) as version_rank

    from user_versions

),

latest as (

    select
        user_id,
        username,
        country,
        age_band,
        signed_up_at,
        source,
        batch_id,
        loaded_at

    from ranked
    where version_rank = 1

)

select * from latest
