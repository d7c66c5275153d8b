-- AIS static and voyage data (type 5; type 19 and type 24 part A/B for class B), one row per
-- tenant and message. Names get a match key (vessel_name_match_key) for matching to shipments;
-- the ETA (month/day/hour/minute in UTC, no year) becomes `eta_at`: the first such moment no
-- more than 30 days before the report, null when a part is "not available" (0/24/60).
with source as (
    select * from {{ source('ais', 'messages') }}
    where msg_type in (5, 19, 24)
),

dated as (
    select
        *,
        coalesce(received_at, _ingested_at) as reported_at,
        case
            when eta_month between 1 and 12 and eta_day between 1 and 31
                and eta_hour between 0 and 23 and eta_minute between 0 and 59
                then try_strptime(
                    printf(
                        '%04d-%02d-%02d %02d:%02d',
                        year(coalesce(received_at, _ingested_at)),
                        eta_month, eta_day, eta_hour, eta_minute
                    ),
                    '%Y-%m-%d %H:%M'
                )
        end as eta_this_year
    from source
),

renamed as (
    select
        tenant_id,
        mmsi,
        msg_type,
        part_number,
        nullif(imo_number, 0) as imo_number,
        call_sign,
        ship_name,
        {{ normalized_vessel_name('ship_name') }} as vessel_name,
        {{ vessel_name_match_key('ship_name') }} as vessel_match_key,
        ship_type,
        destination,
        case
            when eta_this_year < reported_at - interval 30 days
                then eta_this_year + interval 1 year
            else eta_this_year
        end as eta_at,
        eta_month,
        eta_day,
        eta_hour,
        eta_minute,
        nullif(draught_m, 0) as draught_m,
        received_at,
        reported_at,
        source_station,
        _record_hash as record_hash,
        _source_file as source_file,
        _source_row as source_row,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from dated
)

select * from renamed
