-- Hong Kong port container throughput by mode of transport (DATA.GOV.HK), one row per tenant,
-- year and month; Month 'All' rows are annual totals (`is_annual_total`, `month_number` null).
-- Provisional months are published with only the total (seaborne/river empty). A later edition
-- revising a row keeps its last landed copy. Throughputs in thousand TEU, changes in percent.
with source as (
    select * from {{ source('port', 'container_throughput') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "Year", "Month"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        cast("Year" as integer) as "year",
        "Month" as month_as_published,
        case "Month"
            when 'Jan' then 1 when 'Feb' then 2 when 'Mar' then 3 when 'Apr' then 4
            when 'May' then 5 when 'Jun' then 6 when 'Jul' then 7 when 'Aug' then 8
            when 'Sep' then 9 when 'Oct' then 10 when 'Nov' then 11 when 'Dec' then 12
        end as month_number,
        "Month" = 'All' as is_annual_total,
        make_date(cast("Year" as integer), coalesce(month_number, 1), 1) as period_start_date,
        "Seaborne ( '000 TEUs)" as seaborne_kteu,
        "River ( '000 TEUs)" as river_kteu,
        "Total ( '000 TEUs)" as total_kteu,
        "Seaborne (Year-on-year change %)" as seaborne_yoy_change_pct,
        "River (Year-on-year change %)" as river_yoy_change_pct,
        "Total (Year-on-year change %)" as total_yoy_change_pct,
        "Total ( '000 TEUs)" is not null
        and ("Seaborne ( '000 TEUs)" is null or "River ( '000 TEUs)" is null) as is_provisional,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
