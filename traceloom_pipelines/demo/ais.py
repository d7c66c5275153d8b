"""The demo world's AIS feed (000 §3.3): NMEA sentences encoded with pyais for the vessels of the
answer key (``vessels``: canonical name, IMO, MMSI, call sign, voyages with port calls).

Pure functions: :func:`ais_files` returns ``{path relative to the landing root: file text}`` and
the answer-key entry ``ais``; :func:`traceloom_pipelines.demo.weather.write_files` writes them.

For each port call inside the 30-day history a vessel sends static and voyage data (type 5, two
fragments: name, call sign, IMO, destination = the port's UN/LOCODE, ETA = the planned arrival,
or the actual arrival when the voyage runs more than :data:`ETA_REVISED_AFTER_MS` behind plan:
the master then announces when the ship will really come) two days before arriving, a position
report (type 1) on arrival and one on departure. Each line has a tag block with the receiver
time (``c:`` Unix seconds). One file per UTC day, lines in time order, except where a defect
is injected:

- one type 5 has its fragments in reverse order (must still decode);
- one sentence has a wrong checksum (quarantined ``error:valid_checksum``);
- one type 5 lost its second fragment (quarantined ``error:fragments_complete``).

When the answer key has no vessels (the logistics part absent), :data:`DEMO_VESSELS` is used.
"""

from __future__ import annotations

import functools
import operator
import random
from datetime import UTC, datetime

from pyais.encode import encode_dict

from traceloom_pipelines.demo.clock import DAY, MINUTE

ETA_REVISED_AFTER_MS = DAY  # a voyage this far behind plan announces its real arrival as ETA
# name, IMO, MMSI, call sign — used only when the answer key lists no vessels.
DEMO_VESSELS = (
    {"name": "MAERSK KOWLOON", "imo": "9777122", "mmsi": "219018765", "call_sign": "OXKW2"},
    {"name": "MSC ANNA", "imo": "9833413", "mmsi": "636019825", "call_sign": "D5QK7"},
    {"name": "EVER GRACE", "imo": "9811029", "mmsi": "563157400", "call_sign": "9V7342"},
)


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tagged(sentence: str, at_ms: int, station: str = "tl-demo") -> str:
    """The sentence behind an IEC 62320 tag block with source station and receiver time."""
    body = f"s:{station},c:{at_ms // 1000}"
    checksum = functools.reduce(operator.xor, (ord(c) for c in body), 0)
    return f"\\{body}*{checksum:02X}\\{sentence}"


def _static(vessel: dict, destination: str, eta_ms: int, seq: int) -> list[str]:
    eta = datetime.fromtimestamp(eta_ms / 1000, UTC)
    return encode_dict(
        {
            "type": 5,
            "mmsi": int(vessel["mmsi"]),
            "imo": int(vessel["imo"]),
            "callsign": vessel["call_sign"],
            "shipname": vessel["name"][:20],
            "ship_type": 70,
            "destination": destination[:20],
            "month": eta.month,
            "day": eta.day,
            "hour": eta.hour,
            "minute": eta.minute,
            "draught": 12.5,
        },
        talker_id="AI",
        sentence_type="VDM",
        seq_id=seq % 10,
    )


def _position(vessel: dict, lat: float, lon: float, sog: float, at_ms: int) -> list[str]:
    return encode_dict(
        {
            "type": 1,
            "mmsi": int(vessel["mmsi"]),
            "status": 0 if sog > 1 else 5,
            "lat": lat,
            "lon": lon,
            "speed": sog,
            "course": 90.0,
            "heading": 90,
            "second": (at_ms // 1000) % 60,
        },
        talker_id="AI",
        sentence_type="VDM",
    )


def _fleet(vessels: list[dict]) -> list[dict]:
    """One entry per MMSI (the key lists a vessel once per tenant), voyages merged, sorted."""
    by_mmsi: dict[str, dict] = {}
    for vessel in vessels or DEMO_VESSELS:
        entry = by_mmsi.setdefault(
            str(vessel["mmsi"]), {**{k: vessel[k] for k in DEMO_VESSELS[0]}, "voyages": []}
        )
        for voyage in vessel.get("voyages", []):
            if voyage not in entry["voyages"]:
                entry["voyages"].append(voyage)
    return [by_mmsi[m] for m in sorted(by_mmsi)]


def ais_files(
    seed: int, as_of_ms: int, vessels: list[dict], coordinates: dict[str, tuple[float, float]]
) -> tuple[dict[str, str], dict]:
    """The AIS drop files (``public/ais/messages/ais_<YYYYMMDD>.nmea``) and the key entry.

    Args:
        seed: world seed (places the fallback vessels' calls and picks the defects).
        as_of_ms: end of the history, epoch ms UTC; messages fall in the 30 days before.
        vessels: the answer key's ``vessels``; :data:`DEMO_VESSELS` when empty.
        coordinates: UN/LOCODE → (latitude, longitude) of ports (reference.ports).

    Returns:
        ``(files, key)``; key: ``vessels`` (name, IMO, MMSI, call sign as sent in AIS),
        ``messages_landed`` (decodable messages), ``static_reports`` (type 5 landed),
        ``static_report_list`` (each landed type 5: MMSI, destination, ETA and send time, UTC
        ISO; the PO delay-risk key reads it),
        ``quarantined`` (source file, 1-based line, failed check).
    """
    rng = random.Random(f"{seed}-ais")
    start = as_of_ms - 30 * DAY
    fleet = _fleet(vessels)
    events: list[tuple[int, str, list[str]]] = []  # (time, kind, sentences)
    seq = 0
    statics_sent: list[tuple] = []  # (sentences, mmsi, destination, ETA ms, sent ms)
    for vessel in fleet:
        calls = [
            call
            for voyage in vessel["voyages"]
            for call in voyage.get("port_calls", [])
            if call.get("port") in coordinates and call.get("actual_arrival")
        ]
        if not vessel["voyages"]:  # fallback vessels: one call at Hong Kong
            arrive = start + rng.randint(5, 25) * DAY
            calls = [
                {
                    "port": "HKHKG",
                    "planned_arrival": datetime.fromtimestamp(arrive / 1000, UTC).isoformat(),
                    "actual_arrival": datetime.fromtimestamp(arrive / 1000, UTC).isoformat(),
                    "actual_departure": datetime.fromtimestamp(
                        (arrive + DAY) / 1000, UTC
                    ).isoformat(),
                }
            ]
        for call in calls:
            lat, lon = coordinates[call["port"]]
            arrive = _iso_ms(call["actual_arrival"])
            planned = _iso_ms(call.get("planned_arrival") or call["actual_arrival"])
            eta = arrive if arrive - planned > ETA_REVISED_AFTER_MS else planned
            announce = arrive - 2 * DAY
            if start <= announce < as_of_ms:
                seq += 1
                sentences = _static(vessel, call["port"], eta, seq)
                events.append((announce, "static", sentences))
                statics_sent.append((sentences, vessel["mmsi"], call["port"], eta, announce))
            if start <= arrive < as_of_ms:
                events.append((arrive, "position", _position(vessel, lat, lon, 0.2, arrive)))
            depart = call.get("actual_departure")
            if depart and start <= _iso_ms(depart) < as_of_ms:
                at = _iso_ms(depart)
                events.append((at, "position", _position(vessel, lat, lon + 0.05, 12.0, at)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    statics = [i for i, e in enumerate(events) if e[1] == "static"]
    positions = [i for i, e in enumerate(events) if e[1] == "position"]
    reversed_one = statics[0] if statics else None
    lost_fragment = statics[-1] if len(statics) > 1 else None
    bad_checksum = positions[len(positions) // 2] if positions else None

    files: dict[str, list[str]] = {}
    quarantined = []
    for index, (at, _kind, sentences) in enumerate(events):
        day = datetime.fromtimestamp(at / 1000, UTC).strftime("%Y%m%d")
        rel = f"public/ais/messages/ais_{day}.nmea"
        lines = files.setdefault(rel, [])
        if index == reversed_one:
            sentences = list(reversed(sentences))
        if index == lost_fragment:
            sentences = sentences[:1]
            quarantined.append(
                {
                    "source_file": rel,
                    "source_row": len(lines) + 1,
                    "check": "error:fragments_complete",
                }
            )
        if index == bad_checksum:
            body, checksum = sentences[0].rsplit("*", 1)
            sentences = [f"{body}*{(int(checksum, 16) ^ 0x01):02X}"]
            quarantined.append(
                {"source_file": rel, "source_row": len(lines) + 1, "check": "error:valid_checksum"}
            )
        lines.extend(_tagged(s, at + i * MINUTE // 60) for i, s in enumerate(sentences))
    landed_statics = sum(1 for i in statics if i != lost_fragment)
    lost = events[lost_fragment][2] if lost_fragment is not None else None
    static_list = [
        {"mmsi": mmsi, "destination": port, "eta_at": _iso(eta), "received_at": _iso(sent)}
        for sentences, mmsi, port, eta, sent in statics_sent
        if sentences is not lost
    ]
    key = {
        "vessels": [{k: v[k] for k in ("name", "imo", "mmsi", "call_sign")} for v in fleet],
        "messages_landed": len(events) - len(quarantined),
        "static_reports": landed_statics,
        "static_report_list": sorted(
            static_list, key=lambda r: (r["received_at"], r["mmsi"], r["destination"])
        ),
        "quarantined": sorted(quarantined, key=lambda q: (q["source_file"], q["source_row"])),
        "defects": {"fragments_reversed": reversed_one is not None},
    }
    texts = {rel: "\n".join(lines) + "\n" for rel, lines in files.items()}
    return texts, key


AIS_FOLDERS = ("public/ais/messages",)
