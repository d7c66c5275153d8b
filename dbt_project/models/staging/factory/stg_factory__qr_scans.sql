-- Worker QR scans (000 §2.3), one row per tenant and scanId: the app generates scanId, so a scan
-- re-sent after a lost acknowledgement is the same event (its last landed copy is kept).
with source as (
    select * from {{ source('factory', 'qr_scans') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by tenant_id, "scanId"
        order by {{ landing_order_desc() }}
    ) = 1
),

renamed as (
    select
        tenant_id,
        "scanId" as scan_id,
        "scannedAt" as scanned_at,
        "qrCode" as qr_code,
        "unitType" as unit_type,
        "eventType" as event_type,
        stage,
        "poId" as po_id,
        "workOrderId" as work_order_id,
        {{ normalized_text('factory') }} as factory,
        location,
        "workerId" as worker_id,
        "deviceId" as device_id,
        quantity,
        "qaResult" as qa_result,
        _record_hash as record_hash,
        _source_file as source_file,
        _batch_id as landing_batch_id,
        _ingested_at as ingested_at
    from deduplicated
)

select * from renamed
