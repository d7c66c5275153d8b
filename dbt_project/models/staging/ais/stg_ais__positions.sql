-- AIS position reports (types 1/2/3 class A, 18/19 class B), one row per tenant and message
-- (exact repeats are skipped at landing). AIS "not available" values become null: latitude
-- 91, longitude 181, speed 102.3 kn, course 360°, heading 511. `reported_at` is the receiver's
-- time (tag block), else the landing time — AIS itself only carries the second of the fix.
with source as (
    select * from {{ source('ais', 'messages') }}
    where msg_type in (1, 2, 3, 18, 19)
),

renamed as (
    select
        tenant_id,
        mmsi,
        msg_type,
        case when latitude between -90 and 90 then latitude end as latitude,
        case when longitude between -180 and 180 then longitude end as longitude,
        case when sog_knots < 102.3 then sog_knots end as sog_knots,
        case when cog_degrees < 360 then cog_degrees end as cog_degrees,
        case when heading_degrees < 360 then heading_degrees end as heading_degrees,
        nav_status,
        utc_second,
        received_at,
        coalesce(received_at, _ingested_at) as reported_at,
        source_station,
        _record_hash as record_hash,
        _source_file as source_file,
        _source_row as source_row,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from source
)

select * from renamed
