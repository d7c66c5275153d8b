-- OEE and its factors are ratios: every one must lie in [0, 1] when present.
select *
from {{ ref('fct_production_daily') }}
where not (
    availability between 0 and 1
    and coalesce(performance, 0) between 0 and 1
    and coalesce(quality, 0) between 0 and 1
    and oee between 0 and 1
)
