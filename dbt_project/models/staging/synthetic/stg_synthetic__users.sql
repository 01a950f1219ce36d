with

source as (

    select * from {{ source('raw', 'synthetic_users') }}

),

renamed as (

    select
        ---------- ids
        cast(user_id as text) as user_id,

        ---------- text
        cast(username as text) as username,
        cast(country as text) as country,
        cast(age_band as text) as age_band,

        ---------- timestamps
        cast(signed_up_at as timestamp with time zone) as signed_up_at,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
