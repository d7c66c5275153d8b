{#
  The marts' UTC instants are `timestamp with time zone` (DuckDB `timestamptz`), so BI tools
  (Superset through duckdb-engine, the Parquet export) read real instants, not naive times.
  Staging and intermediate models keep naive timestamps that hold UTC, so everything that
  derives a day (`::date`, date_trunc, the daily windows of macros/daily_window.sql) keeps its
  meaning; a mart converts at its final select only, and a mart that reads another mart's
  timestamps converts them back first.

  Both are `timezone('UTC', ...)`: independent of the session's TimeZone, unlike a bare
  `::timestamptz` / `::timestamp` cast, which reads / writes the value in the session's zone.
#}

{% macro utc_timestamptz(column) -%}
    {#- A naive timestamp that holds UTC -> the same instant as timestamptz. -#}
    timezone('UTC', {{ column }})
{%- endmacro %}


{% macro utc_naive(column) -%}
    {#- A timestamptz (a mart's column) -> the naive UTC timestamp the models compute with. -#}
    timezone('UTC', {{ column }})
{%- endmacro %}
