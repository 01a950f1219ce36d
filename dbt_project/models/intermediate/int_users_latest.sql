-- Latest snapshot of every user across load batches (by loaded_at): synthetic listeners
-- and Last.fm profiles (user_id = the Last.fm user name). Last.fm gives a country name
-- (mapped to its ISO 3166 alpha-2 code by the seed country_codes; unknown names become
-- NULL) and an age (banded like the synthetic age_band; under 18 or hidden -> NULL).
-- Other user sources are added to `user_versions`.

with

country_codes as (

    select
        lower(country_name) as country_name,
        country_code

    from {{ ref('country_codes') }}

),

lastfm_users as (

    select
        profiles.user_id,
        profiles.user_id as username,
        country_codes.country_code as country,
        case
            when profiles.age between 18 and 24 then '18-24'
            when profiles.age between 25 and 34 then '25-34'
            when profiles.age between 35 and 44 then '35-44'
            when profiles.age between 45 and 54 then '45-54'
            when profiles.age >= 55 then '55+'
        end as age_band,
        profiles.registered_at as signed_up_at,
        profiles.source,
        profiles.batch_id,
        profiles.loaded_at,
        profiles.logical_date

    from {{ ref('stg_lastfm__user_info') }} as profiles
    left join country_codes
        on lower(profiles.country_name) = country_codes.country_name

),

user_versions as (

    select
        user_id,
        username,
        country,
        age_band,
        signed_up_at,
        source,
        batch_id,
        loaded_at,
        logical_date

    from {{ ref('stg_synthetic__users') }}

    union all

    select
        user_id,
        username,
        country,
        age_band,
        signed_up_at,
        source,
        batch_id,
        loaded_at,
        logical_date

    from lastfm_users

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
