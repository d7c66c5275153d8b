"""ERP source contract: purchase orders (000 §2.1), work-order events with BOM and material master
(003 §3.2.1), and the same purchase orders as SAP's OData service sends them (002 §1).

Drop folders: ``landing/<tenant>/erp/{purchase_orders,work_orders,materials}/``; the OData pull
(``sources/erp/connector.py``) writes ``landing/<tenant>/erp/purchase_orders_odata/``.
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import (
    BOOLEAN,
    DATE,
    INTEGER,
    JSON,
    NUMBER,
    TIMESTAMP,
    field,
)
from traceloom_pipelines.landing.entity import ChildTable, SourceEntity

PO_STATUSES = ("open", "closed", "cancelled")
WORK_ORDER_EVENTS = ("work_order.created", "work_order.updated", "work_order.cancelled")
# ERP knows release, completion and cancellation; progress is MES's business (003 §3.4 report).
ERP_WORK_ORDER_STATUSES = ("released", "completed", "cancelled")
PRIORITIES = ("low", "normal", "medium", "high", "urgent")

purchase_order_lines = ChildTable(
    name="purchase_order_lines",
    array_key="lineItems",
    parent_columns=("poId", "revision"),
    schema=pa.DataFrameSchema(
        {
            "lineItemId": field("$.lineItemId", required=True),
            "sku": field("$.sku", required=True),
            "color": field("$.color"),
            "size": field("$.size"),
            "lineQuantity": field("$.lineQuantity", NUMBER, required=True, non_negative_value=True),
        },
        name="erp.purchase_order_lines",
    ),
)

purchase_orders = SourceEntity(
    system="erp",
    entity="purchase_orders",
    seed_ref="000 §2.1",
    description=(
        "Purchase orders with line items; every revision is a new record, latest updatedAt wins."
    ),
    schema=pa.DataFrameSchema(
        {
            "poId": field("$.poId", required=True),
            "revision": field("$.revision", INTEGER, required=True, non_negative_value=True),
            "poStatus": field("$.poStatus", required=True, accepted=PO_STATUSES),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
            "customer": field("$.customer"),
            "supplier": field("$.supplier", required=True),
            "factory": field("$.factory", required=True),
            "product": field("$.product"),
            "quantity": field("$.quantity", NUMBER, required=True, non_negative_value=True),
            "unit": field("$.unit"),
            "price": field("$.price", NUMBER, non_negative_value=True),
            "currency": field("$.currency"),
            "shipWindowStart": field("$.shipWindowStart", DATE),
            "shipWindowEnd": field("$.shipWindowEnd", DATE),
            "requestedDeliveryDate": field("$.requestedDeliveryDate", DATE),
            "routeTemplate_origin": field("$.routeTemplate.origin"),
            "routeTemplate_ports": field("$.routeTemplate.ports", JSON),
            "routeTemplate_destination": field("$.routeTemplate.destination"),
        },
        name="erp.purchase_orders",
    ),
    children=(purchase_order_lines,),
)

work_order_bom_lines = ChildTable(
    name="work_order_bom_lines",
    array_key="work_order.bill_of_materials",
    parent_columns=("erp_work_order_id", "timestamp"),
    schema=pa.DataFrameSchema(
        {
            "material_id": field("$.material_id", required=True),
            "part_number": field("$.part_number"),
            "part_name": field("$.part_name"),
            "quantity_required": field(
                "$.quantity_required", NUMBER, required=True, non_negative_value=True
            ),
            "unit_of_measure": field("$.unit_of_measure"),
        },
        name="erp.work_order_bom_lines",
    ),
)

work_orders = SourceEntity(
    system="erp",
    entity="work_orders",
    seed_ref="003 §3.2.1, §3.3",
    description=(
        "Work-order events (created/updated/cancelled) with their bill of materials; "
        "`status` is a TraceLoom extension of the seed payload (released/completed/cancelled)."
    ),
    schema=pa.DataFrameSchema(
        {
            "event_type": field("$.event_type", required=True, accepted=WORK_ORDER_EVENTS),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True),
            "erp_work_order_id": field("$.work_order.erp_work_order_id", required=True),
            "work_order_number": field("$.work_order.work_order_number"),
            "status": field("$.work_order.status", accepted=ERP_WORK_ORDER_STATUSES),
            "product_id": field("$.work_order.product_id", required=True),
            "product_name": field("$.work_order.product_name"),
            "product_variant": field("$.work_order.product_variant"),
            "quantity_ordered": field(
                "$.work_order.quantity_ordered", NUMBER, required=True, non_negative_value=True
            ),
            "unit_of_measure": field("$.work_order.unit_of_measure"),
            "priority": field("$.work_order.priority", accepted=PRIORITIES),
            "due_date": field("$.work_order.due_date", TIMESTAMP, required=True),
            "customer_order_id": field("$.work_order.customer_order_id"),
            "production_line_preference": field("$.work_order.production_line_preference"),
            "special_instructions": field("$.work_order.special_instructions"),
        },
        name="erp.work_orders",
    ),
    children=(work_order_bom_lines,),
)

materials = SourceEntity(
    system="erp",
    entity="materials",
    seed_ref="003 §3.2.1 (material master)",
    description=(
        'Material master, one payload {"materials": [...]} per file or CSV rows; '
        "`safety_stock_quantity` is a TraceLoom extension used by the inventory mart."
    ),
    envelope="materials",
    schema=pa.DataFrameSchema(
        {
            "material_id": field("$.material_id", required=True),
            "part_number": field("$.part_number"),
            "part_name": field("$.part_name"),
            "description": field("$.description"),
            "category": field("$.category"),
            "unit_of_measure": field("$.unit_of_measure"),
            "standard_cost": field("$.standard_cost", NUMBER, non_negative_value=True),
            "currency": field("$.currency"),
            "is_active": field("$.is_active", BOOLEAN),
            "safety_stock_quantity": field(
                "$.safety_stock_quantity", NUMBER, non_negative_value=True
            ),
        },
        name="erp.materials",
    ),
)

# SAP S/4HANA purchase orders pulled over OData v2 (API_PURCHASEORDER_PROCESS_SRV, A_PurchaseOrder
# with to_PurchaseOrderItem/to_ScheduleLine expanded), as `sources/erp/odata.py` normalises them:
# /Date()/ literals already ISO-8601 UTC or YYYY-MM-DD, Edm.Decimal values as the strings SAP
# sends, __metadata dropped. Fields named YY1_*_PDH / YY1_*_PDI are the TraceLoom custom fields
# (SAP key-user extensibility on the purchasing document header / item) carrying 000 §2.1 data
# that standard SAP has no field for: customer, ship window, route template, colour and size.
SAP_DELETION_CODES = ("L", "S")  # L: deleted, S: blocked (SAP purchasing deletion indicator)

purchase_order_items_odata = ChildTable(
    name="purchase_order_items_odata",
    array_key="to_PurchaseOrderItem",
    parent_columns=("PurchaseOrder", "LastChangeDateTime"),
    schema=pa.DataFrameSchema(
        {
            "PurchaseOrderItem": field("$.PurchaseOrderItem", required=True),
            "PurchaseOrderItemText": field("$.PurchaseOrderItemText"),
            "Material": field("$.Material", required=True),
            "Plant": field("$.Plant"),
            "OrderQuantity": field(
                "$.OrderQuantity", NUMBER, required=True, non_negative_value=True
            ),
            "PurchaseOrderQuantityUnit": field("$.PurchaseOrderQuantityUnit"),
            "NetPriceAmount": field("$.NetPriceAmount", NUMBER, non_negative_value=True),
            "NetPriceQuantity": field("$.NetPriceQuantity", NUMBER, non_negative_value=True),
            "DocumentCurrency": field("$.DocumentCurrency"),
            "IsCompletelyDelivered": field("$.IsCompletelyDelivered", BOOLEAN),
            "PurchasingDocumentDeletionCode": field(
                "$.PurchasingDocumentDeletionCode", accepted=SAP_DELETION_CODES
            ),
            "ScheduleLineDeliveryDate": field(
                "$.to_ScheduleLine[0].ScheduleLineDeliveryDate", DATE
            ),
            "YY1_Color_PDI": field("$.YY1_Color_PDI"),
            "YY1_Size_PDI": field("$.YY1_Size_PDI"),
        },
        name="erp.purchase_order_items_odata",
    ),
)

purchase_orders_odata = SourceEntity(
    system="erp",
    entity="purchase_orders_odata",
    seed_ref="000 §2.1 (PO fields), 002 §1 (SAP OData extraction)",
    description=(
        "SAP S/4HANA purchase orders pulled from the OData v2 service "
        "API_PURCHASEORDER_PROCESS_SRV "
        "(A_PurchaseOrder, items and schedule lines expanded) by `ErpODataResource`, "
        "incrementally on LastChangeDateTime; every change is a new record, latest "
        "LastChangeDateTime wins. YY1_* are TraceLoom custom fields."
    ),
    schema=pa.DataFrameSchema(
        {
            "PurchaseOrder": field("$.PurchaseOrder", required=True),
            "PurchaseOrderType": field("$.PurchaseOrderType"),
            "CompanyCode": field("$.CompanyCode"),
            "PurchasingOrganization": field("$.PurchasingOrganization"),
            "PurchasingGroup": field("$.PurchasingGroup"),
            "Supplier": field("$.Supplier", required=True),
            "DocumentCurrency": field("$.DocumentCurrency"),
            "PurchasingDocumentDeletionCode": field(
                "$.PurchasingDocumentDeletionCode", accepted=SAP_DELETION_CODES
            ),
            "CreationDate": field("$.CreationDate", DATE),
            "PurchaseOrderDate": field("$.PurchaseOrderDate", DATE),
            "LastChangeDateTime": field("$.LastChangeDateTime", TIMESTAMP, required=True),
            "YY1_Customer_PDH": field("$.YY1_Customer_PDH"),
            "YY1_ShipWindowStart_PDH": field("$.YY1_ShipWindowStart_PDH", DATE),
            "YY1_ShipWindowEnd_PDH": field("$.YY1_ShipWindowEnd_PDH", DATE),
            "YY1_RouteOrigin_PDH": field("$.YY1_RouteOrigin_PDH"),
            "YY1_RoutePorts_PDH": field("$.YY1_RoutePorts_PDH"),
            "YY1_RouteDestination_PDH": field("$.YY1_RouteDestination_PDH"),
        },
        name="erp.purchase_orders_odata",
    ),
    children=(purchase_order_items_odata,),
    file_suffixes=(".jsonl",),
)

MASTER_DATA_SEED_REF = "004 (Identity resolution & MDM: deterministic keys when available)"

vendors = SourceEntity(
    system="erp",
    entity="vendors",
    seed_ref=MASTER_DATA_SEED_REF,
    description=(
        "ERP vendor master (the suppliers' registry ids: tax id, DUNS, GLN, the EDI partner id "
        "of a supplier that trades by EDI); the later `updatedAt` supersedes a vendor's record. "
        "Identity resolution keys suppliers on it (traceloom_pipelines/master_data/)."
    ),
    schema=pa.DataFrameSchema(
        {
            "vendorId": field("$.vendorId", required=True, description="ERP vendor number."),
            "vendorName": field(
                "$.vendorName", required=True, description="Name, as the ERP's POs spell it."
            ),
            "taxId": field("$.taxId", description="Tax registration id (country prefix)."),
            "duns": field("$.duns", description="D-U-N-S number (9 digits)."),
            "gln": field("$.gln", description="GS1 Global Location Number (13 digits)."),
            "country": field("$.country", description="ISO 3166-1 alpha-2 country."),
            "city": field("$.city"),
            "ediPartnerId": field(
                "$.ediPartnerId", description="Interchange id (ISA06 / UNB sender) of its EDI."
            ),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="erp.vendors",
    ),
)

products = SourceEntity(
    system="erp",
    entity="products",
    seed_ref=MASTER_DATA_SEED_REF,
    description=(
        "ERP product master: the product id work orders carry, the name POs carry, the GTIN; "
        "the later `updatedAt` supersedes a product's record."
    ),
    schema=pa.DataFrameSchema(
        {
            "productId": field("$.productId", required=True, description="ERP product id."),
            "productName": field("$.productName", required=True),
            "gtin": field("$.gtin", description="GS1 GTIN-13 of the product."),
            "category": field("$.category"),
            "unit": field("$.unit", description="Unit the product is ordered in."),
            "updatedAt": field("$.updatedAt", TIMESTAMP, required=True),
        },
        name="erp.products",
    ),
)

ENTITIES = (purchase_orders, work_orders, materials, purchase_orders_odata, vendors, products)
