"""The Superset dashboards on the marts, as code: writes the import bundle (YAML, Superset's
export format 1.0.0) under ``deploy/bi/assets/``, which ``deploy/bi/bootstrap.py`` imports.

Run ``python deploy/bi/dashboards.py`` after changing a dashboard or a mart's documentation and
commit the YAML beside it (tests/bi/test_dashboards.py fails while the two differ). Every
dataset's description and every column's description is the mart's dbt documentation
(``dbt_project/models/marts/**/<mart>.yml``), the same text ``persist_mart_docs`` writes into
the lake as comments. UUIDs are derived from names (uuid5), so a re-import updates in place.

Three dashboards, each with a native filter on ``tenant_id`` (every mart row carries it):
reconciliation (discrepancies by type, severity and day; open vs auto-synced), production
(output, scrap and OEE by machine and day), PO risk (delay risk by supplier and port, the
timeline's current stage per open PO).
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
MARTS_DIR = HERE.parents[1] / "dbt_project" / "models" / "marts"
NAMESPACE = uuid.UUID("6f0c7c0e-3b0e-4c59-9a8e-1d1f0e2b7a11")
DATABASE_NAME = "TraceLoom lake"
VERSION = "1.0.0"
# dbt data_type -> the type Superset records for a column (DuckDB's names)
TYPES = {"varchar[]": "VARCHAR[]"}
TEMPORAL = {"date", "timestamp", "timestamptz", "timestamp with time zone"}


def uid(*parts: str) -> str:
    """A stable UUID for a named asset: the same name gives the same UUID on every export."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def mart_docs(marts_dir: Path = MARTS_DIR) -> dict[str, dict]:
    """``{mart: {"description": str, "columns": {name: {"description", "data_type"}}}}`` from
    the marts' dbt YAML files."""
    docs = {}
    for path in sorted(marts_dir.rglob("*.yml")):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            docs[model["name"]] = {
                "description": " ".join(str(model.get("description", "")).split()),
                "columns": {
                    c["name"]: {
                        "description": " ".join(str(c.get("description", "")).split()),
                        "data_type": c.get("data_type", "varchar"),
                    }
                    for c in model.get("columns", [])
                },
            }
    return docs


# --- datasets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A Superset dataset: a mart (``sql`` None) or a query over marts (a virtual dataset).

    ``columns``: for a virtual dataset, ``(name, mart, mart column)`` of each output column,
    whose description and type are that mart column's.
    """

    name: str
    time_column: str | None
    sql: str | None = None
    marts: tuple[str, ...] = ()
    columns: tuple[tuple[str, str, str], ...] = ()
    description_prefix: str = ""

    @property
    def uuid(self) -> str:
        """The dataset's UUID in Superset (from its name)."""
        return uid("dataset", self.name)

    def reads(self) -> tuple[str, ...]:
        """The marts this dataset reads."""
        return self.marts or (self.name,)


PO_RISK_BY_SUPPLIER = Dataset(
    name="po_delay_risk_by_supplier_and_port",
    time_column=None,
    sql=(
        "select\n"
        "    risk.tenant_id,\n"
        "    risk.po_id,\n"
        "    orders.supplier,\n"
        "    orders.route_origin as origin_port,\n"
        "    orders.route_destination as destination_port,\n"
        "    risk.current_stage,\n"
        "    risk.risk_level,\n"
        "    risk.signal_count,\n"
        "    risk.eta_delay_hours,\n"
        "    risk.risk_reason\n"
        "from marts.fct_po_delay_risk as risk\n"
        "inner join marts.fct_purchase_orders as orders\n"
        "    on risk.tenant_id = orders.tenant_id and risk.po_id = orders.po_id"
    ),
    marts=("fct_po_delay_risk", "fct_purchase_orders"),
    columns=(
        ("tenant_id", "fct_po_delay_risk", "tenant_id"),
        ("po_id", "fct_po_delay_risk", "po_id"),
        ("supplier", "fct_purchase_orders", "supplier"),
        ("origin_port", "fct_purchase_orders", "route_origin"),
        ("destination_port", "fct_purchase_orders", "route_destination"),
        ("current_stage", "fct_po_delay_risk", "current_stage"),
        ("risk_level", "fct_po_delay_risk", "risk_level"),
        ("signal_count", "fct_po_delay_risk", "signal_count"),
        ("eta_delay_hours", "fct_po_delay_risk", "eta_delay_hours"),
        ("risk_reason", "fct_po_delay_risk", "risk_reason"),
    ),
    description_prefix=(
        "The open POs' delay risk (fct_po_delay_risk) with the supplier and the planned "
        "route's origin and destination ports of each PO (fct_purchase_orders)."
    ),
)

DATASETS = {
    d.name: d
    for d in (
        Dataset("rpt_reconciliation_daily_totals", "reconciliation_date"),
        Dataset("rpt_work_order_reconciliation_daily", "reconciliation_date"),
        Dataset("fct_production_daily", "production_date"),
        Dataset("fct_po_delay_risk", "as_of_at"),
        Dataset("fct_po_timeline", "planned_at"),
        PO_RISK_BY_SUPPLIER,
    )
}


def _column(name: str, doc: dict) -> dict:
    data_type = doc["data_type"].lower()
    return {
        "advanced_data_type": None,
        "column_name": name,
        "description": doc["description"] or None,
        "expression": None,
        "extra": None,
        "filterable": True,
        "groupby": True,
        "is_active": True,
        "is_dttm": data_type in TEMPORAL,
        "python_date_format": None,
        "type": TYPES.get(data_type, data_type.upper()),
        "verbose_name": None,
    }


def dataset_yaml(dataset: Dataset, docs: dict[str, dict]) -> dict:
    """The dataset's YAML (export format), documented from ``docs`` (:func:`mart_docs`).

    Raises:
        KeyError: a mart or column the dataset reads has no dbt documentation.
    """
    if dataset.sql is None:
        mart = docs[dataset.name]
        description = mart["description"]
        columns = [_column(n, d) for n, d in mart["columns"].items()]
    else:
        description = " ".join(
            [dataset.description_prefix] + [f"{m}: {docs[m]['description']}" for m in dataset.marts]
        )
        columns = [
            _column(name, docs[mart]["columns"][column]) for name, mart, column in dataset.columns
        ]
    return {
        "table_name": dataset.name,
        "main_dttm_col": dataset.time_column,
        "description": description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": "marts" if dataset.sql is None else None,
        "sql": dataset.sql,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "folders": None,
        "uuid": dataset.uuid,
        "metrics": [
            {
                "metric_name": "count",
                "verbose_name": "rows",
                "metric_type": "count",
                "expression": "COUNT(*)",
                "description": None,
                "d3format": None,
                "currency": None,
                "extra": None,
                "warning_text": None,
            }
        ],
        "columns": columns,
        "version": VERSION,
        "database_uuid": uid("database", DATABASE_NAME),
    }


# --- charts ---------------------------------------------------------------------------------


def metric(sql: str, label: str) -> dict:
    """An ad-hoc SQL metric (``SUM(units_produced)``) shown as ``label``."""
    return {
        "expressionType": "SQL",
        "sqlExpression": sql,
        "label": label,
        "hasCustomLabel": True,
        "optionName": f"metric_{uid('metric', label)[:8]}",
    }


def where(sql: str) -> dict:
    """An ad-hoc WHERE filter in SQL."""
    return {"clause": "WHERE", "expressionType": "SQL", "sqlExpression": sql}


@dataclass(frozen=True)
class Chart:
    """A chart on a dashboard: ``name`` (unique in the bundle), ``dataset`` (a key of
    :data:`DATASETS`), ``viz_type`` and the chart's own form data; ``width`` of 12 columns."""

    name: str
    dataset: str
    viz_type: str
    params: dict = field(default_factory=dict)
    width: int = 4
    height: int = 50

    @property
    def uuid(self) -> str:
        """The chart's UUID in Superset (from its name)."""
        return uid("chart", self.name)


def big_number(name: str, dataset: str, sql: str, fmt: str = ",d", filters=()) -> Chart:
    """A Big Number (no trend line) of one SQL aggregate, formatted with d3 ``fmt``."""
    return Chart(
        name,
        dataset,
        "big_number_total",
        {
            "metric": metric(sql, name),
            "adhoc_filters": list(filters),
            "y_axis_format": fmt,
            "header_font_size": 0.4,
            "subheader_font_size": 0.15,
            "subheader": "",
        },
        width=3,
        height=25,
    )


def timeseries(
    name, dataset, viz_type, x_axis, metrics, groupby=(), fmt=",d", temporal=True, width=6
) -> Chart:
    """An ECharts bar or line chart: ``metrics`` per ``x_axis`` (a day when ``temporal``, else a
    category such as a machine), one series per metric and per ``groupby`` value, stacked bars."""
    params = {
        "x_axis": x_axis,
        "metrics": list(metrics),
        "groupby": list(groupby),
        "adhoc_filters": [],
        "row_limit": 10000,
        "truncate_metric": True,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "top",
        "rich_tooltip": True,
        "y_axis_format": fmt,
        "x_axis_title_margin": 15,
        "y_axis_title_margin": 30,
        "order_desc": True,
        "comparison_type": "values",
        "annotation_layers": [],
        "forecastEnabled": False,
    }
    if temporal:
        params.update(time_grain_sqla="P1D", x_axis_time_format="%Y-%m-%d")
    else:
        # categories (suppliers, ports, machines) have long names: slanted, all shown
        params.update(
            x_axis_sort_asc=True,
            x_axis_sort_series="name",
            xAxisLabelRotation=45,
            xAxisLabelInterval=0,
        )
    if viz_type == "echarts_timeseries_bar":
        params.update(stack="Stack", orientation="vertical")
    else:
        params.update(markerEnabled=True, markerSize=4, seriesType="line")
    return Chart(name, dataset, viz_type, params, width=width, height=50)


def table(name, dataset, groupby, metrics, formats, order_by=None, filters=(), width=12) -> Chart:
    """An aggregated table: ``metrics`` per ``groupby`` row, number formats per metric label
    (``formats``), ordered by ``order_by`` (a metric label, descending) or the first metric."""
    return Chart(
        name,
        dataset,
        "table",
        {
            "query_mode": "aggregate",
            "groupby": list(groupby),
            "metrics": list(metrics),
            "all_columns": [],
            "percent_metrics": [],
            "adhoc_filters": list(filters),
            "order_desc": True,
            "timeseries_limit_metric": next(
                (m for m in metrics if m["label"] == order_by), metrics[0]
            ),
            "row_limit": 1000,
            "server_page_length": 10,
            "include_search": True,
            "table_timestamp_format": "%Y-%m-%d",
            "show_cell_bars": False,
            "color_pn": False,
            "column_config": {label: {"d3NumberFormat": fmt} for label, fmt in formats.items()},
        },
        width=width,
        height=60,
    )


def raw_table(name, dataset, columns, order_by, filters=(), width=12) -> Chart:
    """A table of the dataset's rows (``columns``), ordered by ``order_by`` ``[(column,
    ascending)]``."""
    return Chart(
        name,
        dataset,
        "table",
        {
            "query_mode": "raw",
            "groupby": [],
            "metrics": [],
            "all_columns": list(columns),
            "order_by_cols": [json.dumps([c, asc]) for c, asc in order_by],
            "adhoc_filters": list(filters),
            "row_limit": 1000,
            "server_page_length": 10,
            "include_search": True,
            "table_timestamp_format": "%Y-%m-%d %H:%M",
            "show_cell_bars": False,
        },
        width=width,
        height=60,
    )


COUNT = metric("COUNT(*)", "discrepancies")
POS = metric("COUNT(*)", "purchase orders")

RECONCILIATION = (
    big_number("Discrepancies", "rpt_reconciliation_daily_totals", "SUM(discrepancy_count)"),
    big_number(
        "Open (manual review)", "rpt_reconciliation_daily_totals", "SUM(manual_review_count)"
    ),
    big_number("Auto-synced", "rpt_reconciliation_daily_totals", "SUM(auto_sync_count)"),
    big_number(
        "Work-order discrepancies",
        "rpt_reconciliation_daily_totals",
        "SUM(work_order_discrepancy_count)",
    ),
    timeseries(
        "Open vs auto-synced by day",
        "rpt_reconciliation_daily_totals",
        "echarts_timeseries_bar",
        "reconciliation_date",
        [
            metric("SUM(manual_review_count)", "open (manual review)"),
            metric("SUM(auto_sync_count)", "auto-synced"),
        ],
    ),
    timeseries(
        "Discrepancies by kind and day",
        "rpt_reconciliation_daily_totals",
        "echarts_timeseries_line",
        "reconciliation_date",
        [
            metric("SUM(work_order_discrepancy_count)", "work order"),
            metric("SUM(inventory_discrepancy_count)", "inventory"),
            metric("SUM(labor_discrepancy_count)", "labour"),
        ],
    ),
    timeseries(
        "Work-order discrepancies by type and day",
        "rpt_work_order_reconciliation_daily",
        "echarts_timeseries_bar",
        "reconciliation_date",
        [COUNT],
        groupby=["discrepancy_type"],
        width=12,
    ),
    table(
        "Work-order discrepancies by type and severity",
        "rpt_work_order_reconciliation_daily",
        ["discrepancy_type", "severity", "proposed_action"],
        [COUNT],
        {"discrepancies": ",d"},
    ),
)

PRODUCTION = (
    big_number("Units produced", "fct_production_daily", "SUM(units_produced)"),
    big_number("Good units", "fct_production_daily", "SUM(good_units)"),
    big_number("Scrap units", "fct_production_daily", "SUM(scrap_units)"),
    big_number("Average OEE", "fct_production_daily", "AVG(oee)", fmt=".1%"),
    timeseries(
        "OEE by machine and day",
        "fct_production_daily",
        "echarts_timeseries_line",
        "production_date",
        [metric("AVG(oee)", "OEE")],
        groupby=["machine_id"],
        fmt=".0%",
    ),
    timeseries(
        "Output and scrap by machine",
        "fct_production_daily",
        "echarts_timeseries_bar",
        "machine_id",
        [metric("SUM(good_units)", "good units"), metric("SUM(scrap_units)", "scrap units")],
        temporal=False,
    ),
    table(
        "Production by machine",
        "fct_production_daily",
        ["tenant_id", "factory", "machine_id"],
        [
            metric("SUM(units_produced)", "units produced"),
            metric("SUM(scrap_units)", "scrap units"),
            metric("SUM(downtime_minutes)", "downtime minutes"),
            metric("AVG(oee)", "average OEE"),
        ],
        {
            "units produced": ",d",
            "scrap units": ",d",
            "downtime minutes": ",.0f",
            "average OEE": ".1%",
        },
    ),
)

PO_RISK = (
    big_number("Open POs", "fct_po_delay_risk", "COUNT(*)"),
    big_number(
        "POs at risk", "fct_po_delay_risk", "COUNT(*)", filters=[where("risk_level <> 'none'")]
    ),
    big_number(
        "POs at high risk",
        "fct_po_delay_risk",
        "COUNT(*)",
        filters=[where("risk_level = 'high'")],
    ),
    big_number("Risk signals raised", "fct_po_delay_risk", "SUM(signal_count)"),
    timeseries(
        "Delay risk by supplier",
        PO_RISK_BY_SUPPLIER.name,
        "echarts_timeseries_bar",
        "supplier",
        [POS],
        groupby=["risk_level"],
        temporal=False,
    ),
    timeseries(
        "Delay risk by origin port",
        PO_RISK_BY_SUPPLIER.name,
        "echarts_timeseries_bar",
        "origin_port",
        [POS],
        groupby=["risk_level"],
        temporal=False,
    ),
    table(
        "Delay risk by supplier and port",
        PO_RISK_BY_SUPPLIER.name,
        ["supplier", "origin_port", "destination_port", "risk_level"],
        [POS, metric("MAX(eta_delay_hours)", "largest ETA delay (h)")],
        {"purchase orders": ",d", "largest ETA delay (h)": ",.1f"},
    ),
    raw_table(
        "Open POs: current stage (timeline)",
        "fct_po_timeline",
        ["tenant_id", "po_id", "stage", "stage_status", "location", "planned_at", "expected_at"],
        [("expected_at", True), ("po_id", True)],
        filters=[where("is_current_stage")],
    ),
)


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: charts laid out in rows of at most 12 columns, in order; ``label_colors``
    fixes the colour of a series name on every chart (risk levels, open vs auto-synced)."""

    title: str
    slug: str
    description: str
    charts: tuple[Chart, ...]
    label_colors: dict[str, str] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        """The dashboard's UUID in Superset (from its slug)."""
        return uid("dashboard", self.slug)

    def datasets(self) -> list[str]:
        """The names (keys of :data:`DATASETS`) of the datasets its charts use."""
        return sorted({c.dataset for c in self.charts})

    def marts(self) -> list[str]:
        """The marts the dashboard reads (for its dbt exposure)."""
        return sorted({m for d in self.datasets() for m in DATASETS[d].reads()})


# Superset's own palette (supersetColors)
RED, ORANGE, YELLOW, GREEN, GREY = "#E04355", "#FF7F44", "#FCC700", "#5AC189", "#B2B2B2"

DASHBOARDS = (
    Dashboard(
        "Reconciliation",
        "traceloom-reconciliation",
        "The nightly ERP/MES/WMS/HR reconciliation: discrepancies by kind, type, severity and "
        "day; open (manual review) vs auto-synced.",
        RECONCILIATION,
        {"open (manual review)": RED, "auto-synced": GREEN},
    ),
    Dashboard(
        "Production",
        "traceloom-production",
        "Machine output, scrap and OEE by machine and UTC day (fct_production_daily).",
        PRODUCTION,
    ),
    Dashboard(
        "PO risk",
        "traceloom-po-risk",
        "Open purchase orders' delay risk by supplier and port, and each open PO's current "
        "stage in its timeline (the PO digital twin).",
        PO_RISK,
        {"none": GREY, "low": YELLOW, "medium": ORANGE, "high": RED},
    ),
)


def _position(dashboard: Dashboard) -> dict:
    position = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": dashboard.title}},
    }
    rows: list[list[Chart]] = []
    for chart in dashboard.charts:
        if not rows or sum(c.width for c in rows[-1]) + chart.width > 12:
            rows.append([])
        rows[-1].append(chart)
    for r, row in enumerate(rows, start=1):
        row_id = f"ROW-{r}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_id = f"CHART-{chart.uuid[:8]}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    # any id: the import maps it to the chart's id in the metadata database
                    "chartId": 1 + dashboard.charts.index(chart),
                    "uuid": chart.uuid,
                    "sliceName": chart.name,
                    "width": chart.width,
                    "height": chart.height,
                },
            }
    return position


def _tenant_filter(dashboard: Dashboard) -> dict:
    """The native filter on ``tenant_id``: its values come from the dashboard's first dataset,
    and it applies to every chart (each dataset has ``tenant_id``)."""
    return {
        "id": f"NATIVE_FILTER-tenant-{dashboard.slug}",
        "name": "Tenant",
        "filterType": "filter_select",
        "type": "NATIVE_FILTER",
        "targets": [
            {
                "column": {"name": "tenant_id"},
                "datasetUuid": DATASETS[dashboard.charts[0].dataset].uuid,
            }
        ],
        "controlValues": {
            "enableEmptyFilter": False,
            "defaultToFirstItem": False,
            "multiSelect": True,
            "searchAllOptions": False,
            "inverseSelection": False,
        },
        "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
        "description": "Only the selected tenants' rows (every mart row carries tenant_id).",
    }


def dashboard_yaml(dashboard: Dashboard) -> dict:
    """The dashboard's YAML (export format): layout, the tenant filter, no cross-filters."""
    return {
        "dashboard_title": dashboard.title,
        "description": dashboard.description,
        "css": "",
        "slug": dashboard.slug,
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": dashboard.uuid,
        "position": _position(dashboard),
        "metadata": {
            "native_filter_configuration": [_tenant_filter(dashboard)],
            "chart_configuration": {},
            "global_chart_configuration": {
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
            },
            "cross_filters_enabled": False,
            "color_scheme": "supersetColors",
            "expanded_slices": {},
            "label_colors": dict(dashboard.label_colors),
            "shared_label_colors": [],
            "timed_refresh_immune_slices": [],
            "refresh_frequency": 0,
            "default_filters": "{}",
        },
        "version": VERSION,
    }


def chart_yaml(chart: Chart) -> dict:
    """The chart's YAML (export format); the import resolves ``dataset_uuid`` to its dataset."""
    return {
        "slice_name": chart.name,
        "description": None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": chart.viz_type,
        "params": {"viz_type": chart.viz_type, **chart.params},
        "query_context": None,
        "cache_timeout": None,
        "uuid": chart.uuid,
        "version": VERSION,
        "dataset_uuid": DATASETS[chart.dataset].uuid,
    }


def database_yaml() -> dict:
    """The connection: an in-memory DuckDB per connection, to which superset_config.py attaches
    the lake read-only (the path is the machine's ``TRACELOOM_DATA_DIR``, not part of the URI)."""
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": "duckdb:///:memory:",
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True, "schemas_allowed_for_file_upload": []},
        "uuid": uid("database", DATABASE_NAME),
        "version": VERSION,
    }


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def bundle(docs: dict[str, dict] | None = None) -> dict[str, dict]:
    """``{relative path: YAML document}`` of the whole import bundle."""
    docs = docs if docs is not None else mart_docs()
    files = {
        "metadata.yaml": {
            "version": VERSION,
            "type": "Dashboard",
            "timestamp": "2026-12-07T00:00:00+00:00",
        },
        f"databases/{_file_name(DATABASE_NAME)}.yaml": database_yaml(),
    }
    db_folder = _file_name(DATABASE_NAME)
    for dataset in DATASETS.values():
        files[f"datasets/{db_folder}/{dataset.name}.yaml"] = dataset_yaml(dataset, docs)
    for dashboard in DASHBOARDS:
        files[f"dashboards/{_file_name(dashboard.title)}.yaml"] = dashboard_yaml(dashboard)
        for chart in dashboard.charts:
            files[f"charts/{_file_name(chart.name)}.yaml"] = chart_yaml(chart)
    return files


HEADER = "# Generated by deploy/bi/dashboards.py from the dashboards' code and the marts' docs.\n"


def render(files: dict[str, dict]) -> dict[str, str]:
    """The YAML text of each file of :func:`bundle`."""
    return {
        path: HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        for path, doc in files.items()
    }


def write(assets: Path = ASSETS) -> list[Path]:
    """Replace ``assets`` with the rendered bundle; returns the files written."""
    if assets.exists():
        shutil.rmtree(assets)
    written = []
    for path, text in render(bundle()).items():
        target = assets / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    for path in write():
        print(path.relative_to(HERE.parents[1]))
