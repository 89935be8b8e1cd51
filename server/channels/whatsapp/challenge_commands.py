"""Staked self-challenges over WhatsApp: the commands and the proof photos/videos.

`challenge gym tomorrow 7am stake 200` answers with the reading and Confirm / Cancel
buttons (or, for an ambiguous date, one button per reading); Confirm holds the stake.
`challenges` lists them with the player's stats, `remind me in 1 hour` /
`remind me 30 minutes before` adds a reminder, `cancel` cancels within the cooling-off
window. A photo or video sent while a challenge is open is its proof: fetched from the
Graph API media endpoint, checked and queued for the verifier. The service
(server/features/challenges) does the work; refusals are its ChallengeErrors, which
the router turns into a sentence. Each message's wamid keys what it asks for.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from server.auth.users import User
from server.channels.whatsapp import messages
from server.channels.whatsapp.channel import get_channel
from server.channels.whatsapp.commands import Command
from server.channels.whatsapp.media import fetch_media
from server.channels.whatsapp.messages import Button, Message
from server.channels.whatsapp.payloads import InboundMessage
from server.features.challenges.dates import local_text, zone_of
from server.features.challenges.proofs import IMAGE_TYPES, VIDEO_TYPES
from server.features.challenges.service import (
    ChallengeError,
    ChallengeService,
    duration_text,
    options_of,
    service,
)
from server.state import AppState

HELP = ("Set yourself a goal with a stake, e.g. 'challenge gym tomorrow 7am stake 200'."
        " You get it back when your proof photo is accepted.")
LIST_ROWS = 5


def _svc(state: AppState) -> ChallengeService:
    svc = service(state)
    if not svc.settings.enabled:
        raise ChallengeError("challenges_disabled", "Challenges are not available.", 404)
    return svc


def _confirmation(svc: ChallengeService, row: asyncpg.Record) -> Message:
    """The reading of a draft with Confirm / Cancel buttons (or the ambiguity question)."""
    tz = zone_of(row["time_zone"], "UTC")
    cid = str(row["id"])
    if row["deadline_at"] is None:
        options = options_of(row)
        shown = " or ".join(local_text(o, tz) for o in options)
        return messages.buttons(
            f'When is the deadline for "{row["goal"]}"? Did you mean {shown}?'
            f" (times in {row['time_zone']})",
            [Button(f"cmd:challenge pick {cid} {i}", local_text(o, tz))
             for i, o in enumerate(options[:3])],
        )
    cooling = duration_text(svc.settings.cooling_off_s)
    return messages.buttons(
        f'Challenge: "{row["goal"]}". Deadline: {local_text(row["deadline_at"], tz)}'
        f" ({row['time_zone']}). Stake: {svc.amount(row['stake_minor'])}, held until the"
        " outcome: returned when your proof is accepted, kept if not. You can cancel within"
        f" {cooling} of confirming.",
        [Button(f"cmd:challenge confirm {cid}", "Confirm"),
         Button(f"cmd:challenge cancel {cid}", "Cancel")],
    )


async def challenge(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`challenge <goal> <deadline> stake <n>`, and its buttons: confirm/cancel/pick."""
    svc = _svc(state)
    arg = (cmd.arg or "").strip()
    if not arg:
        return [messages.text(HELP)]
    words = arg.split()
    action = words[0].lower()
    if action == "confirm" and len(words) == 2:
        row = await svc.confirm(user.id, words[1])
        tz = zone_of(row["time_zone"], "UTC")
        text = (f'Your challenge "{row["goal"]}" is on: {svc.amount(row["stake_minor"])} is'
                f" held. Send a photo or a short video here as proof before"
                f" {local_text(row['deadline_at'], tz)}.")
        reminders = await svc.reminders_of(row["id"])
        if reminders:
            text += f" I will remind you at {local_text(reminders[0]['due_at'], tz)}."
        text += (f" Changed your mind? Type 'cancel' within"
                 f" {duration_text(svc.settings.cooling_off_s)}.")
        return [messages.text(text)]
    if action == "cancel" and len(words) == 2:
        return await _cancelled(svc, user, words[1])
    if action == "pick" and len(words) == 3 and words[2].isdigit():
        row = await svc.pick_option(user.id, words[1], int(words[2]))
        return [_confirmation(svc, row)]
    row = await svc.draft_from_text(user.id, user.phone_e164, arg, source="whatsapp",
                                    source_ref=f"wa:{wamid}")
    if row["deadline_at"] is None and not options_of(row):
        return [messages.text("Which day and time exactly? For example 'by Friday 6pm'.")]
    return [_confirmation(svc, row)]


async def _cancelled(svc: ChallengeService, user: User, cid: str | None) -> list[Message]:
    row = await svc.cancel(user.id, cid)
    if row["confirmed_at"] is None:
        return [messages.text("Okay, that challenge is dropped. Nothing was held.")]
    return [messages.text(f'Your challenge "{row["goal"]}" is cancelled and your stake of'
                          f" {svc.amount(row['stake_minor'])} is back in your balance.")]


async def cancel(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`cancel`: the latest draft or open challenge (within the cooling-off window)."""
    return await _cancelled(_svc(state), user, None)


async def remind(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`remind me in 1 hour` / `remind me 30 minutes before` for the nearest open challenge."""
    svc = _svc(state)
    due = await svc.remind(user.id, None, "remind " + (cmd.arg or ""))
    tz = svc.zone_for(user.phone_e164)
    return [messages.text(f"Okay, I will remind you at {local_text(due, tz)}.")]


async def challenges(state: AppState, user: User, cmd: Command, wamid: str) -> list[Message]:
    """`challenges`: open ones with their deadlines, then the stats."""
    svc = _svc(state)
    rows = await svc.history(user.id, LIST_ROWS)
    stats = await svc.stats(user.id)
    if not rows:
        return [messages.text("You have no challenges yet. " + HELP)]
    lines = []
    for r in rows:
        tz = zone_of(r["time_zone"], "UTC")
        when = local_text(r["deadline_at"], tz) if r["deadline_at"] else "?"
        lines.append(f"- {r['goal']} ({svc.amount(r['stake_minor'])}, {when}): {r['state']}")
    summary = f"Completed {stats['succeeded']} of {stats['decided']}"
    if stats["decided"]:
        summary += f", streak {stats['streak']} (best {stats['best_streak']})"
    return [messages.text("Your challenges:\n" + "\n".join(lines) + "\n" + summary + ".")]


async def on_media(state: AppState, user: User, msg: InboundMessage) -> list[Message] | None:
    """A photo or video: the proof of the player's open challenge, or None (no challenge:
    the router answers as for any other unsupported message)."""
    svc = service(state)
    if not svc.settings.enabled or msg.media_id is None:
        return None
    open_row = await state.pool.fetchval(
        "SELECT 1 FROM challenges WHERE user_id = $1::uuid AND state = 'open' LIMIT 1", user.id)
    if not open_row:
        return None
    source_ref = f"wa:{msg.wamid}"
    done = await state.pool.fetchrow(
        "SELECT * FROM challenge_proofs WHERE source_ref = $1", source_ref)
    if done is None:
        is_video = msg.media_type == "video"
        limit = svc.settings.max_video_bytes if is_video else svc.settings.max_image_bytes
        allowed = tuple(VIDEO_TYPES) if is_video else IMAGE_TYPES
        media = await fetch_media(state.settings, get_channel(state).api.client, msg.media_id,
                                  max_bytes=limit, allowed_types=allowed)
        # Judged by arrival: the message's own time (signed by Meta), never after our clock.
        sent = datetime.fromtimestamp(msg.sent_at_s, UTC)
        done = await svc.submit_proof(user.id, None, media.data, media.mime_type,
                                      source_ref=source_ref, received_at=min(sent, svc.now()))
    if done["state"] == "rejected":
        return [messages.text(f"That proof was not accepted: {done['reason']}")]
    if done["verifier"] == "http":
        return [messages.text("Proof received. It is being checked; you will get a message"
                              " with the result.")]
    return [messages.text("Proof received. It will be reviewed; you will get a message with"
                          " the result.")]
