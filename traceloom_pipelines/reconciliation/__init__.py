"""The nightly reconciliation report: work orders (ERP vs MES), inventory (MES-implied vs WMS
consumption) and labour (HR attendance vs MES bookings), rendered per tenant and day."""
