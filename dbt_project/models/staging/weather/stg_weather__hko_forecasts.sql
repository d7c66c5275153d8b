-- HKO 9-day forecast (fnd), one row per tenant and forecast day: the latest issue wins (by
-- updateTime, then landing order). `forecast_date` is the Hong Kong calendar day.
with source as (
    select * from {{ source('weather', 'hko_forecasts') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "forecastDate"
        order by "updateTime" desc, {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        'hk' as weather_zone,
        strptime("forecastDate", '%Y%m%d')::date as forecast_date,
        "updateTime" as forecast_issued_at,
        week as day_of_week,
        "forecastWeather" as forecast_weather,
        "forecastWind" as forecast_wind,
        "forecastMaxtemp" as max_temperature_c,
        "forecastMintemp" as min_temperature_c,
        "forecastMaxrh" as max_relative_humidity_pct,
        "forecastMinrh" as min_relative_humidity_pct,
        "ForecastIcon" as forecast_icon,
        "PSR" as significant_rain_probability,
        "generalSituation" as general_situation,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
