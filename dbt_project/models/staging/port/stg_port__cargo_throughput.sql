-- Port cargo throughput (DATA.GOV.HK port cargo statistics table 1), one row per tenant, shipment
-- type, measure and period. Landing unpivoted the wide table (one column per year) into one row
-- per cell; a later edition re-publishing a cell with another value keeps its last landed copy.
-- Yearly measures have period_start_year = period_end_year; the average annual rate of change
-- covers the edition's year range.
with source as (
    select * from {{ source('port', 'cargo_throughput') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, shipment_type, measure, "year"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        shipment_type,
        lower(shipment_type) = 'overall' as is_overall,
        measure,
        case measure
            when 'throughput_kt' then 'thousand_tonnes'
            when 'percentage_distribution' then 'percent'
            when 'average_annual_rate_of_change' then 'percent_per_year'
        end as unit,
        cast(split_part("year", '-', 1) as integer) as period_start_year,
        cast(coalesce(nullif(split_part("year", '-', 2), ''), "year") as integer) as period_end_year,
        "year" as period_as_published,
        "value",
        source_column,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
