-- Open-Meteo hourly forecasts, one row per tenant, location (UN/LOCODE) and forecast hour: the
-- latest pull wins (landing order), so a newer model run replaces an older one hour by hour.
-- Units are Open-Meteo's defaults (°C, mm, km/h); rows in other units are converted here.
with source as (
    select * from {{ source('weather', 'open_meteo_forecasts') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, location_id, forecast_time
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        upper(trim(location_id)) as locode,
        latitude as grid_latitude,
        longitude as grid_longitude,
        forecast_time as forecast_at,
        case
            when temperature_2m_unit = '°F' then (temperature_2m - 32) * 5 / 9
            else temperature_2m
        end as temperature_c,
        case
            when precipitation_unit = 'inch' then precipitation * 25.4 else precipitation
        end as precipitation_mm,
        case
            when wind_speed_10m_unit = 'm/s' then wind_speed_10m * 3.6
            when wind_speed_10m_unit = 'mp/h' then wind_speed_10m * 1.609344
            when wind_speed_10m_unit = 'kn' then wind_speed_10m * 1.852
            else wind_speed_10m
        end as wind_speed_kmh,
        case
            when wind_gusts_10m_unit = 'm/s' then wind_gusts_10m * 3.6
            when wind_gusts_10m_unit = 'mp/h' then wind_gusts_10m * 1.609344
            when wind_gusts_10m_unit = 'kn' then wind_gusts_10m * 1.852
            else wind_gusts_10m
        end as wind_gusts_kmh,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
