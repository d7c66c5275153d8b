"""Static vocabularies of the demo world: two industry profiles (apparel, appliances) with
plausible factories, products, materials, machines, skills, names and UN/LOCODE ports.

Nothing here is random; :mod:`traceloom_pipelines.demo.masters` draws from these lists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Everything industry-specific a tenant's world is drawn from."""

    industry: str
    # (code, name, origin port UN/LOCODE)
    factories: tuple[tuple[str, str, str], ...]
    suppliers: tuple[str, ...]
    customers: tuple[str, ...]
    destinations: tuple[str, ...]
    transshipment: tuple[str, ...]
    # (product code, name, description, unit price range USD)
    products: tuple[tuple[str, str, str, tuple[float, float]], ...]
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    unit: str
    lot_step: int  # quantities are multiples of this (a dozen garments, a pallet layer …)
    # (letter, category, unit of measure, per-unit BOM quantity range, cost range, names)
    material_groups: tuple[
        tuple[str, str, str, tuple[float, float], tuple[float, float], tuple[str, ...]], ...
    ]
    # (machine type, line prefix, ideal cycle seconds range)
    machine_types: tuple[tuple[str, str, tuple[int, int]], ...]
    skills: tuple[tuple[str, str], ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    phone_prefix: str
    downtime_reasons: tuple[tuple[str, str, str], ...]  # (code, description, severity)
    defect_types: tuple[str, ...]
    instructions: tuple[str, ...]


# Downtime reasons whose machine status is "Faulted" (a breakdown); the rest are "Stopped".
BREAKDOWN_CODES = ("MECH_FAULT", "ELEC_FAULT", "NEEDLE_BREAK", "DIE_JAM", "ROBOT_FAULT")

_COMMON_DOWNTIME = (
    ("MECH_FAULT", "Hydraulic system pressure drop", "high"),
    ("ELEC_FAULT", "Drive overcurrent trip", "critical"),
    ("MATERIAL_SHORTAGE", "Waiting for material from warehouse", "medium"),
    ("TOOL_CHANGE", "Unplanned tool change", "low"),
    ("QUALITY_HOLD", "Line stopped for quality check", "medium"),
)

APPAREL = Profile(
    industry="apparel",
    factories=(
        ("FAC-DG-01", "Dongguan Everbright Knitting Mill", "CNSZX"),
        ("FAC-NB-02", "Ningbo Seaside Garment Works", "CNNGB"),
        ("FAC-HCM-03", "Saigon Thread Apparel Factory", "VNSGN"),
        ("FAC-CTG-04", "Chattogram Knitwear Ltd", "BDCGP"),
        ("FAC-SZ-05", "Shenzhen Longgang Dyeing & Finishing", "CNSZX"),
        ("FAC-HP-06", "Haiphong Cotton Crafts", "VNHPH"),
        ("FAC-DH-07", "Dhaka Purbachal Knit Composite", "BDCGP"),
        ("FAC-XM-08", "Xiamen Bluebay Textiles", "CNXMN"),
        ("FAC-CMB-09", "Colombo Lanka Activewear", "LKCMB"),
        ("FAC-TUP-10", "Tiruppur Cotton Knits", "INTUT"),
    ),
    suppliers=(
        "Everbright Textile Group",
        "Pearl River Knitting Co.",
        "Saigon Thread JSC",
        "Chattogram Apparel Holdings",
        "Lotus Fashion Sourcing",
        "Harbor Yarn Trading",
        "Meridian Garment Partners",
        "Jade Dragon Textiles",
        "Golden Bengal Knit Ltd",
        "Mekong Apparel Corp",
        "Indigo Loom Sourcing",
        "Silk Road Garments Ltd",
    ),
    customers=(
        "Northwind Outfitters",
        "Harbor & Pine",
        "Velo Athletics",
        "Kestrel Kids",
        "Urban Summit",
        "Meadowlark Basics",
    ),
    destinations=("USLAX", "USLGB", "NLRTM", "DEHAM", "GBFXT", "USNYC", "USSAV", "CAVAN"),
    transshipment=("HKHKG", "SGSIN", "MYPKG", "LKCMB"),
    products=(
        ("TS", "Crew-neck T-shirt", "Men's crew-neck tee, 180gsm combed cotton jersey", (3.2, 6.5)),
        ("PL", "Pique polo shirt", "Short-sleeve pique polo, 220gsm", (5.8, 11.0)),
        ("HD", "Pullover hoodie", "Brushed fleece pullover hoodie, 320gsm", (9.5, 18.0)),
        ("JG", "Jogger pants", "French terry jogger with drawcord", (7.0, 14.5)),
        ("LG", "Performance leggings", "Nylon-spandex high-rise leggings", (6.0, 12.0)),
        ("SW", "Crew sweater", "Fine-gauge merino blend crew sweater", (12.0, 24.0)),
        ("DR", "Knit midi dress", "Rib-knit viscose midi dress", (9.0, 17.5)),
        ("TK", "Tank top", "Slub cotton tank top", (2.5, 5.0)),
    ),
    colors=("Navy", "Black", "White", "Heather Grey", "Olive", "Burgundy", "Sky Blue", "Coral"),
    sizes=("XS", "S", "M", "L", "XL", "XXL"),
    unit="pcs",
    lot_step=12,
    material_groups=(
        (
            "Y",
            "Yarn",
            "KG",
            (0.15, 0.45),
            (3.1, 9.8),
            (
                "Combed cotton yarn Ne 30/1",
                "Polyester DTY 150D/48F",
                "Spandex bare yarn 40D",
                "Merino wool blend yarn 2/48",
                "Viscose ring-spun yarn Ne 40/1",
                "Recycled PET yarn 75D",
            ),
        ),
        (
            "F",
            "Fabric",
            "M",
            (0.8, 1.9),
            (2.2, 7.5),
            (
                "Single jersey 180gsm",
                "Pique knit 220gsm",
                "Brushed fleece 320gsm",
                "French terry 280gsm",
                "1x1 rib knit 240gsm",
            ),
        ),
        (
            "T",
            "Trims",
            "EA",
            (1.0, 6.0),
            (0.02, 0.45),
            (
                "Polyester sewing thread cone",
                "Metal YKK zipper 18cm",
                "Flat drawcord 120cm",
                "4-hole resin button 18L",
                "Metal eyelet 8mm",
                "Elastic waistband 35mm",
            ),
        ),
        (
            "L",
            "Labels",
            "EA",
            (1.0, 3.0),
            (0.01, 0.12),
            ("Woven brand label", "Printed care label", "Size tab label", "Hang tag with barcode"),
        ),
        (
            "P",
            "Packaging",
            "EA",
            (1.0, 1.0),
            (0.03, 0.9),
            ("LDPE polybag 30x40", "Export carton 5-ply", "Tissue wrap sheet", "Carton label"),
        ),
        (
            "D",
            "Dyes & Chemicals",
            "KG",
            (0.01, 0.05),
            (4.5, 22.0),
            ("Reactive dye navy", "Reactive dye black", "Softener concentrate", "Fixing agent"),
        ),
    ),
    machine_types=(
        ("Circular knitting machine", "KNIT", (240, 480)),
        ("Flatbed knitting machine", "FLAT", (300, 600)),
        ("Lockstitch sewing station", "SEW", (60, 180)),
        ("Automatic cutting table", "CUT", (30, 90)),
        ("Steam pressing unit", "PRESS", (20, 60)),
    ),
    skills=(
        ("KNIT-L2", "Circular Knitting Level 2"),
        ("SEW-L3", "Industrial Sewing Level 3"),
        ("DYE-L2", "Dyeing Operation Level 2"),
        ("QC-L1", "Garment Quality Control Level 1"),
        ("CUT-L2", "Automatic Cutting Level 2"),
        ("FORK-L1", "Forklift Operation"),
        ("MECH-L2", "Knitting Machine Maintenance Level 2"),
    ),
    first_names=(
        "Wei",
        "Li",
        "Jun",
        "Mei",
        "Hui",
        "Xiaoling",
        "Jian",
        "Yan",
        "Lan",
        "Hao",
        "Minh",
        "Anh",
        "Thu",
        "Lan",
        "Hoa",
        "Tuan",
        "Linh",
        "Duc",
        "Rahim",
        "Fatema",
        "Nasrin",
        "Karim",
        "Sadia",
        "Tanvir",
        "Ayesha",
        "Rafiq",
        "Priya",
        "Arjun",
        "Kavya",
        "Nimal",
        "Dilani",
    ),
    last_names=(
        "Zhang",
        "Wang",
        "Chen",
        "Liu",
        "Huang",
        "Zhao",
        "Wu",
        "Zhou",
        "Nguyen",
        "Tran",
        "Le",
        "Pham",
        "Hoang",
        "Vo",
        "Rahman",
        "Hossain",
        "Islam",
        "Akter",
        "Uddin",
        "Chowdhury",
        "Perera",
        "Fernando",
        "Kumar",
        "Sharma",
    ),
    phone_prefix="+86-769",
    downtime_reasons=_COMMON_DOWNTIME
    + (
        ("NEEDLE_BREAK", "Needle breakage on cylinder", "medium"),
        ("YARN_BREAK", "Yarn break at feeder", "low"),
    ),
    defect_types=(
        "stitching defect",
        "shade variation",
        "hole in fabric",
        "measurement out of tolerance",
        "stain",
    ),
    instructions=(
        "AQL 2.5 inspection before packing",
        "Pre-shrunk fabric only",
        "Match shade to approved lab dip",
        "Fold and polybag individually",
        "",
    ),
)

APPLIANCES = Profile(
    industry="appliances",
    factories=(
        ("FAC-FS-01", "Foshan Shunde Appliance Works", "CNFOS"),
        ("FAC-NB-02", "Ningbo Cixi Electric Factory", "CNNGB"),
        ("FAC-QD-03", "Qingdao Harbour Home Appliances", "CNTAO"),
        ("FAC-SU-04", "Suzhou Precision Components", "CNSHA"),
        ("FAC-ZS-05", "Zhongshan Motor & Pump Co.", "CNZSN"),
        ("FAC-LCH-06", "Laem Chabang Appliance Plant", "THLCH"),
        ("FAC-PG-07", "Penang Electronics Assembly", "MYPEN"),
        ("FAC-HP-08", "Haiphong Components Plant", "VNHPH"),
        ("FAC-XM-09", "Xiamen Compressor Works", "CNXMN"),
        ("FAC-TJ-10", "Tianjin Sheet Metal Plant", "CNTXG"),
    ),
    suppliers=(
        "Shunde Electric Holdings",
        "Cixi Precision Metal Co.",
        "Haier Parts Trading",
        "Suzhou Kingtech Components",
        "Zhongshan Broad-Ocean Motor",
        "Siam Appliance Parts",
        "Penang Circuit Works",
        "Red River Components JSC",
        "Xiamen Coolcore Compressor",
        "Tianjin Steelform Co.",
        "Pacific Rim Sourcing",
        "Bohai Plastics Ltd",
    ),
    customers=(
        "HomeWorks Retail",
        "BrightHouse Appliances",
        "Cascade Kitchen Supply",
        "Northstar Builders Supply",
        "Maple Home Centers",
    ),
    destinations=("USLAX", "USLGB", "USSAV", "USHOU", "NLRTM", "DEHAM", "CAVAN"),
    transshipment=("HKHKG", "SGSIN", "KRPUS", "TWKHH"),
    products=(
        (
            "WD-100",
            "Washer Door Assembly",
            "Front-load washer door with tempered glass",
            (38.0, 64.0),
        ),
        ("DR-210", "Dryer Drum Assembly", "Stainless dryer drum with baffles", (55.0, 92.0)),
        ("DW-330", "Dishwasher Rack Set", "Upper and lower nylon-coated rack set", (21.0, 39.0)),
        ("RF-450", "Refrigerator Door Gasket Kit", "Magnetic door gasket kit", (8.5, 16.0)),
        (
            "MW-520",
            "Microwave Control Panel",
            "Membrane keypad control panel with PCB",
            (17.0, 33.0),
        ),
        ("OV-610", "Oven Heating Element", "2500 W bake element", (9.0, 19.0)),
        (
            "AC-720",
            "Compressor Mount Bracket",
            "Powder-coated steel compressor bracket",
            (4.0, 9.5),
        ),
        ("VC-830", "Vacuum Motor Housing", "ABS motor housing with filter seat", (6.5, 13.0)),
    ),
    colors=("White", "Stainless", "Black", "Graphite", "Bisque"),
    sizes=("Compact", "Standard", "Large"),
    unit="EA",
    lot_step=10,
    material_groups=(
        (
            "A",
            "Fabricated Parts",
            "EA",
            (1.0, 4.0),
            (2.5, 18.0),
            (
                "Door Panel",
                "Hinge Assembly",
                "Drum Baffle",
                "Mounting Bracket",
                "Rack Frame",
                "Tempered Glass Window",
            ),
        ),
        (
            "B",
            "Fasteners",
            "EA",
            (2.0, 12.0),
            (0.02, 0.35),
            ("M6 Hex Bolt", "M4 Machine Screw", "Spring Clip", "Rivet 4.8mm", "Nylon Lock Nut M8"),
        ),
        (
            "C",
            "Electrical Components",
            "EA",
            (1.0, 3.0),
            (0.8, 24.0),
            ("Wire Harness", "Control PCB", "Door Lock Switch", "Thermistor", "Heating Coil 2500W"),
        ),
        (
            "R",
            "Plastics & Resins",
            "KG",
            (0.2, 1.5),
            (1.4, 3.9),
            ("ABS Resin Pellets", "Polypropylene Copolymer", "Nylon 66 Pellets"),
        ),
        (
            "S",
            "Rubber & Seals",
            "EA",
            (1.0, 2.0),
            (0.6, 4.5),
            ("Door Seal Gasket", "Magnetic Gasket Strip", "O-ring Kit", "Vibration Damper"),
        ),
        (
            "P",
            "Packaging",
            "EA",
            (1.0, 1.0),
            (0.2, 3.5),
            ("Corrugated Carton", "EPS Foam Insert", "Stretch Wrap Roll", "Pallet Label"),
        ),
    ),
    machine_types=(
        ("Injection molding press", "MOLD", (30, 90)),
        ("Sheet metal stamping press", "STAMP", (20, 60)),
        ("Robotic welding cell", "WELD", (60, 180)),
        ("Final assembly station", "ASSY", (90, 300)),
        ("Functional test bench", "TEST", (60, 240)),
    ),
    skills=(
        ("WELD-L3", "Welding Level 3"),
        ("PRESS-L2", "Press Operation Level 2"),
        ("ASSY-L2", "Assembly Level 2"),
        ("ELEC-L3", "Electrical Testing Level 3"),
        ("QC-L2", "Quality Inspection Level 2"),
        ("FORK-L1", "Forklift Operation"),
        ("PLC-L2", "PLC Troubleshooting Level 2"),
    ),
    first_names=(
        "John",
        "Maria",
        "James",
        "Linda",
        "Robert",
        "Patricia",
        "Michael",
        "Jennifer",
        "David",
        "Elena",
        "Carlos",
        "Sofia",
        "Jose",
        "Lucia",
        "Daniel",
        "Ana",
        "Kevin",
        "Grace",
        "Tomasz",
        "Katarzyna",
        "Piotr",
        "Aisha",
        "Omar",
        "Mei",
        "Thanh",
        "Somchai",
        "Siriporn",
    ),
    last_names=(
        "Doe",
        "Smith",
        "Johnson",
        "Garcia",
        "Martinez",
        "Brown",
        "Davis",
        "Lopez",
        "Wilson",
        "Anderson",
        "Hernandez",
        "Kowalski",
        "Nowak",
        "Nguyen",
        "Lee",
        "Thompson",
        "Rivera",
        "Campbell",
        "Okafor",
        "Ramirez",
        "Wisniewski",
        "Chaiyaporn",
    ),
    phone_prefix="+1-555",
    downtime_reasons=_COMMON_DOWNTIME
    + (
        ("DIE_JAM", "Stamping die jam", "high"),
        ("ROBOT_FAULT", "Welding robot collision alarm", "critical"),
    ),
    defect_types=(
        "cosmetic damage",
        "weld porosity",
        "dimensional out of tolerance",
        "electrical test failure",
        "missing fastener",
    ),
    instructions=(
        "Quality inspection required before packaging",
        "Use FEFO for resin lots",
        "Torque check on all fasteners",
        "Hi-pot test 100%",
        "",
    ),
)

SHIFTS = {
    # shift letter → (name, start, end, break start, break end); plant local time = UTC here
    "A": ("Shift A", "06:00:00", "14:00:00", "09:30:00", "10:00:00"),
    "B": ("Shift B", "14:00:00", "22:00:00", "17:30:00", "18:00:00"),
    "C": ("Shift C", "22:00:00", "06:00:00", "01:30:00", "02:00:00"),
}

DEPARTMENTS = (
    # (department, share, job titles)
    (
        "Manufacturing",
        0.7,
        ("Production Operator", "Senior Operator", "Line Lead", "Machine Setter"),
    ),
    ("Quality", 0.1, ("Quality Inspector", "QA Technician")),
    ("Maintenance", 0.1, ("Maintenance Technician", "Electrician")),
    ("Warehouse", 0.1, ("Warehouse Associate", "Forklift Driver")),
)

UNKNOWN_MACHINE_STATUSES = ("Maintenance", "Setup", "RUNNING", "Blocked", "Offline")


def profile_for(tenant: str, index: int) -> Profile:
    """The industry profile of a tenant: by name (``apparel``/``appliance``), else alternating."""
    name = tenant.lower()
    if "appliance" in name:
        return APPLIANCES
    if "apparel" in name:
        return APPAREL
    return (APPAREL, APPLIANCES)[index % 2]
