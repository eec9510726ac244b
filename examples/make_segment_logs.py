r"""Write the sample archive in ``examples/segment-logs/``: what ``b2b-events replay`` reads.

Segment's raw archives (its S3 and storage destinations) are gzipped JSON lines,
one full message per line, in a folder per source and per day received, and each
message carries the fields Segment set on arrival (``receivedAt``, ``sentAt``,
``originalTimestamp``, ``version``, ``projectId``). This script writes such an
archive for a few accounts going through the B2B lifecycle, the same bytes on
every run (fixed ids and times)::

    python examples/make_segment_logs.py            # rewrites examples/segment-logs/
    b2b-events validate examples/segment-logs/
    b2b-events collect --port 8088 &
    export B2B_KEY=any-key
    b2b-events replay examples/segment-logs/ --endpoint http://127.0.0.1:8088 \
        --write-key-env B2B_KEY --checkpoint replay.ckpt
"""

from __future__ import annotations

import gzip
import json
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from b2b_events import Tracker
from b2b_events.events import Message

HERE = Path(__file__).parent
SOURCE = "source1"
ACCOUNTS = ("Initech", "Globex", "Umbrella", "Hooli", "Vandelay", "Pied Piper")
DAYS = (date(2026, 11, 22), date(2026, 11, 23))
_IDS = uuid.UUID("8f0d1c7e-2b7a-4d5e-9a41-6c0b3e9f2a10")


def lifecycle(track: Tracker, account: str, day: date, seq: int) -> None:
    """One account's first day: created, signed up, invited a colleague, trial started."""
    slug = account.lower().replace(" ", "-")
    group = f"acct_{slug}"
    owner, invitee = f"u_{slug}_1", f"u_{slug}_2"
    email = f"owner@{slug}.example"
    start = datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc) + timedelta(minutes=seq)

    def at(minutes: int) -> dict[str, Any]:
        moment = start + timedelta(minutes=minutes)
        name = f"{account}/{day}/{minutes}"
        return {"timestamp": moment, "message_id": str(uuid.uuid5(_IDS, name))}

    track.account_created(user_id=owner, group_id=group, account_name=account, **at(0))
    track.signed_up(
        user_id=owner, group_id=group, type="organic", email=email, first_name="Pat", **at(1)
    )
    track.group(group_id=group, user_id=owner, traits={"name": account, "plan": "trial"}, **at(2))
    track.identify(user_id=owner, traits={"email": email}, **at(3))
    track.invite_sent(
        user_id=owner, group_id=group, invitee_email=f"colleague@{slug}.example", **at(4)
    )
    track.signed_up(user_id=invitee, group_id=group, type="invited", **at(10))
    track.account_added_user(user_id=invitee, group_id=group, role="member", **at(11))
    track.trial_started(
        user_id=owner,
        group_id=group,
        trial_start_date=day,
        trial_end_date=day + timedelta(days=14),
        trial_plan_name="Pro",
        **at(12),
    )
    for n in range(3):
        track.signed_in(user_id=invitee, group_id=group, **at(60 * (n + 1)))
        track.signed_out(user_id=invitee, group_id=group, **at(60 * (n + 1) + 30))


def archived(message: Message) -> dict[str, Any]:
    """The message as Segment's archive holds it: the fields set on arrival added."""
    line = message.to_wire()
    line["context"]["library"] = {"name": "b2b-events", "version": "0.1.0"}  # fixed bytes
    stamp = line["timestamp"]
    received = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(seconds=2)
    received_at = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        **line,
        "originalTimestamp": stamp,
        "sentAt": stamp,
        "receivedAt": received_at,
        "version": 2,
        "projectId": SOURCE,
    }


def main(out: Path = HERE / "segment-logs") -> list[Path]:
    """Write one gzipped part per day; return the files written."""
    written = []
    for day in DAYS:
        messages: list[Message] = []
        track = Tracker(sink=messages.append)
        for seq, account in enumerate(ACCOUNTS):
            lifecycle(track, account, day, seq)
        folder = out / SOURCE / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(json.dumps(archived(m), separators=(",", ":")) + "\n" for m in messages)
        path = folder / "part-0001.jsonl.gz"
        path.write_bytes(gzip.compress(body.encode(), compresslevel=9, mtime=0))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "segment-logs"):
        print(path)
