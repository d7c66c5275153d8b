{#
  Mart documentation in the lake: each mart's and each of its columns' description becomes a
  table or column comment, so BI tools show them. Run once at the end of every dbt invocation
  (dbt_project.yml on-run-end), for the marts this invocation built successfully, in one
  explicit transaction (dbt runs hooks outside any): one lake commit for all of them, and only
  comments that differ from the lake's.

  Not dbt's persist_docs: dbt-duckdb applies it after the model's commit, in a transaction that
  dbt never commits for table models (it is rolled back when dbt releases the connection),
  losing the column comments and the drop of the model's __dbt_backup table, which then stays
  in the lake beside the mart (the pattern of dbt-duckdb#660), while for incremental models no
  transaction is open at that point. Every mart has an enforced contract, so each documented
  column exists. tests/test_main_job.py checks the comments and that no __dbt_backup remains.
#}
{% macro persist_mart_docs(results) %}
  {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
  {#- What the lake holds already (a rebuilt table has none, an incremental mart keeps them):
      only comments that differ are written, each COMMENT costing ~50 ms in DuckLake. -#}
  {%- set present = {} -%}
  {%- set existing = run_query(
      "select table_name, '', comment from duckdb_tables() where database_name = 'lake' "
      ~ "and schema_name = 'marts' and comment is not null union all "
      ~ "select table_name, column_name, comment from duckdb_columns() "
      ~ "where database_name = 'lake' and schema_name = 'marts' and comment is not null") -%}
  {%- for row in existing.rows -%}
    {%- do present.update({row[0] ~ '.' ~ row[1]: row[2]}) -%}
  {%- endfor -%}
  {%- set statements = [] -%}
  {%- for result in results
      if result.node.resource_type == 'model'
      and result.node.schema == 'marts'
      and result.status == 'success' -%}
    {%- set node = result.node -%}
    {%- set relation = api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias) -%}
    {%- if node.description and present.get(node.alias ~ '.') != node.description -%}
      {%- do statements.append(
          'comment on table ' ~ relation ~ ' is ' ~ duckdb_escape_comment(node.description)) -%}
    {%- endif -%}
    {%- for column in node.columns.values()
        if column.description and present.get(node.alias ~ '.' ~ column.name) != column.description -%}
      {%- do statements.append(
          'comment on column ' ~ relation ~ '.' ~ adapter.quote(column.name)
          ~ ' is ' ~ duckdb_escape_comment(column.description)) -%}
    {%- endfor -%}
  {%- endfor -%}
  {#- One explicit transaction: dbt runs hooks in autocommit mode, where every COMMENT would be
      its own lake commit (~50-130 ms each: ~20 s for the marts' ~400 comments, 0.5 s in one). -#}
  {{ return('begin transaction;\n' ~ statements | join(';\n') ~ ';\ncommit' if statements else 'select 1') }}
{% endmacro %}
