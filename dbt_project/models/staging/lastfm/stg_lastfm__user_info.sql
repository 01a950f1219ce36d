with

source as (

    select * from {{ source('lastfm', 'user_info') }}

),

renamed as (

    select
        ---------- ids
        -- the Last.fm user name is the listener's id
        cast(user_name as text) as user_id,

        ---------- text
        -- Last.fm's country name; 'None' (or blank) when the user did not set one
        cast(nullif(nullif(trim(country), ''), 'None') as text) as country_name,
        cast(nullif(trim(gender), '') as text) as gender,

        ---------- numerics
        -- 0 when the user hides it
        cast(nullif(age, 0) as integer) as age,
        cast(playcount as bigint) as playcount,

        ---------- timestamps
        cast(registered_at as timestamp with time zone) as registered_at,
        cast(fetched_at as timestamp with time zone) as fetched_at,

        ---------- batch metadata
        cast(_batch_id as text) as batch_id,
        cast(_source as text) as source,
        cast(_loaded_at as timestamp with time zone) as loaded_at,
        cast(_logical_date as date) as logical_date

    from source

)

select * from renamed
