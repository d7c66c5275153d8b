{#
  Table and view materializations for the lake: each model is replaced in one transaction, so
  it costs one DuckLake commit and readers see either the old or the new relation, never none.

  dbt-duckdb's own table and view materializations build `<model>__dbt_tmp`, rename the existing
  relation to `<model>__dbt_backup`, rename the new one into place and drop the backup after the
  commit: four catalog changes per model, two of them outside the transaction. On a DuckLake every
  one of them is a catalog write (a row per change in the catalog database), which made them
  about half of a small `dbt build`'s model time. DuckDB's `create or replace` does the same in
  one statement; DuckLake records it as one snapshot ("tables_created" + "tables_dropped").

  Kept from dbt's: pre/post hooks (inside and outside the transaction), enforced contracts (the
  column check before anything is written, then `create or replace table <columns and
  constraints>` + `insert`, in the same transaction), `sql_header`, `persist_docs` (a no-op here:
  mart comments are written by the on-run-end hook, macros/persist_docs.sql). A relation of the
  other type (a view where a table is wanted, or back) is dropped in the same transaction.
  Not supported (the project uses none, and DuckLake has none of them): indexes, foreign keys,
  grants, Python models; a table model that sets `partitioned_by` / `sorted_by` fails with an
  error naming it.
#}

{% materialization table, adapter="duckdb", supported_languages=['sql'] %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- if config.get('partitioned_by') or config.get('sorted_by') -%}
    {{ exceptions.raise_compiler_error(
        "traceloom's table materialization does not set partitioned_by/sorted_by: "
        ~ this ~ " (macros/materializations.sql)") }}
  {%- endif -%}
  {% call traceloom_replace_in_one_transaction(target_relation, pre_hooks, post_hooks) -%}
    {{ traceloom_create_or_replace_table_as(target_relation, compiled_code) }}
  {%- endcall %}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{% materialization view, adapter="duckdb" %}
  {%- set target_relation = this.incorporate(type='view') -%}
  {% call traceloom_replace_in_one_transaction(target_relation, pre_hooks, post_hooks) -%}
    {%- if config.get('contract').enforced -%}
      {{ get_assert_columns_equivalent(sql) }}
    {%- endif %}
    {{ config.get('sql_header') or '' }}
    create or replace view {{ target_relation }} as (
      {{ sql }}
    );
  {%- endcall %}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- The frame of both materializations: hooks, the existing relation of the other type dropped,
    the caller's `create or replace` statement (rendered after the pre-hooks, as dbt's own
    materializations render theirs), docs, and one commit. -#}
{% macro traceloom_replace_in_one_transaction(target_relation, pre_hooks, post_hooks) %}
  {%- set create_statement = caller -%}
  {%- set existing_relation = load_cached_relation(target_relation) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- if existing_relation is not none and existing_relation.type != target_relation.type -%}
    {% call statement('drop_other_type') -%}
      drop {{ existing_relation.type }} {{ existing_relation }}
    {%- endcall %}
  {%- endif -%}

  {% call statement('main') -%}
    {{ create_statement() }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
{% endmacro %}


{#- `create or replace table` as of a select; with an enforced contract, the columns, their types
    and not-null constraints first (checked against the select by dbt), then an insert of the
    select's columns by name. -#}
{% macro traceloom_create_or_replace_table_as(relation, compiled_code) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- if contract_config.enforced -%}
    {{ get_assert_columns_equivalent(compiled_code) }}
  {%- endif %}
  {{ config.get('sql_header') or '' }}
  {%- if contract_config.enforced %}
  create or replace table {{ relation }} {{ get_table_columns_and_constraints() }};
  insert into {{ relation }} {{ get_column_names() }} (
    {{ get_select_subquery(compiled_code) }}
  );
  {%- else %}
  create or replace table {{ relation }} as (
    {{ compiled_code }}
  );
  {%- endif %}
{%- endmacro %}
