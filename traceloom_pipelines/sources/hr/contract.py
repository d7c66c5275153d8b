"""HR source contract: employees with skills (paginated, 003 §5.2.1), shift schedules (§5.2.1)
and attendance clock events (§5.2.1 webhook payload).

Drop folders: ``landing/<tenant>/hr/{employees,shift_schedules,attendance}/``. An employees file is
one page of the HR API response (``{"employees": [...], "total_count", "page", "page_size"}``).
Names, e-mail and phone land in ``raw`` (restricted schema) and never reach a mart. Personal
data is tagged (``pii=``, seed 004): employee ids are hashed and names, e-mail and phone redacted
for BI readers, work and clock locations hashed (README *Privacy and BI access*).
"""

import pandera.polars as pa

from traceloom_pipelines.landing.checks import (
    BOOLEAN,
    DATE,
    INTEGER,
    PII_HASHED,
    PII_QUASI_HASHED,
    PII_REDACTED,
    TIME,
    TIMESTAMP,
    field,
)
from traceloom_pipelines.landing.entity import ChildTable, SourceEntity

ATTENDANCE_EVENTS = ("clock_in", "clock_out")

employee_skills = ChildTable(
    name="employee_skills",
    array_key="skills",
    parent_columns=("employee_id",),
    schema=pa.DataFrameSchema(
        {
            "skill_code": field("$.skill_code", required=True),
            "skill_name": field("$.skill_name"),
            "proficiency_level": field("$.proficiency_level", INTEGER, non_negative_value=True),
            "certification_date": field("$.certification_date", DATE),
            "certification_expiry": field("$.certification_expiry", DATE),
        },
        name="hr.employee_skills",
    ),
)

employees = SourceEntity(
    system="hr",
    entity="employees",
    seed_ref="003 §5.2.1 (employee master, paginated)",
    description="Employee master data with skills; one file per API page.",
    envelope="employees",
    schema=pa.DataFrameSchema(
        {
            "employee_id": field("$.employee_id", required=True, pii=PII_HASHED),
            "first_name": field("$.first_name", pii=PII_REDACTED),
            "last_name": field("$.last_name", pii=PII_REDACTED),
            "email": field("$.email", pii=PII_REDACTED),
            "phone": field("$.phone", pii=PII_REDACTED),
            "department": field("$.department"),
            "job_title": field("$.job_title"),
            "hire_date": field("$.hire_date", DATE),
            "is_active": field("$.is_active", BOOLEAN),
            "location": field("$.location", pii=PII_QUASI_HASHED),
        },
        name="hr.employees",
    ),
    children=(employee_skills,),
)

shift_schedules = SourceEntity(
    system="hr",
    entity="shift_schedules",
    seed_ref="003 §5.2.1 (shift schedule sync)",
    description="Planned shifts per employee and date (local plant times).",
    envelope="schedules",
    schema=pa.DataFrameSchema(
        {
            "employee_id": field("$.employee_id", required=True, pii=PII_HASHED),
            "shift_date": field("$.shift_date", DATE, required=True),
            "shift_name": field("$.shift_name"),
            "start_time": field("$.start_time", TIME, required=True),
            "end_time": field("$.end_time", TIME, required=True),
            "break_start": field("$.break_start", TIME),
            "break_end": field("$.break_end", TIME),
            "is_overtime": field("$.is_overtime", BOOLEAN),
        },
        name="hr.shift_schedules",
    ),
)

attendance = SourceEntity(
    system="hr",
    entity="attendance",
    seed_ref="003 §5.2.1 (real-time attendance webhook)",
    description="Clock-in/clock-out events.",
    schema=pa.DataFrameSchema(
        {
            "event_type": field("$.event_type", required=True, accepted=ATTENDANCE_EVENTS),
            "timestamp": field("$.timestamp", TIMESTAMP, required=True),
            "employee_id": field("$.employee_id", required=True, pii=PII_HASHED),
            "location": field("$.location", pii=PII_QUASI_HASHED),
            "shift_id": field("$.shift_id"),
        },
        name="hr.attendance",
    ),
)

ENTITIES = (employees, shift_schedules, attendance)
