"""The utterance protocol: when a caption goes out, decided in one place, exactly once.

Every utterance (caption id `room/speaker/n`) has a hash `utt:{caption id}` (keys.utterance_state),
written only by the Lua scripts of this module, each one atomic inside Redis, and expiring
MARKER_TTL_S after its last write. Its fields:

    attempt      the latest final attempt the segmenter emitted (a final job for attempt n)
    cancel:<n>   attempt n is void: speech resumed before its end of speech was confirmed
    confirmed    the attempt whose end of speech was confirmed (the silence lasted eos_ms)
    eos          when that was decided (epoch s; the captions carry it for latency metrics)
    result:<n>   the decoded final of attempt n (Caption JSON), stored by an STT worker
    published    the attempt that went out: set once (HSETNX), the exactly-once guard

The state machine of one utterance. The segmenter (parley_stt.segmenter_loop) commits its steps
with SEGMENTER_COMMIT, together with the speaker's checkpoint and only while it holds the
speaker's lease; a worker (parley_stt.worker) stores each decoded final with STORE_FINAL:

    speaking --silence begins (speculate_ms)--> final job, attempt=n    (decoding starts at once)
    attempt n --speech resumes--> cancel:n, speaking again               (next final: attempt n+1)
    attempt n --silence lasts (eos_ms)--> confirmed=n, eos
    confirmed=n and result:n both there --> published=n; one XADD each to captions:{room},
        translate:jobs:final and persist:captions, by whichever of the two scripts comes second

So a final is published once, whichever replica decodes it and however often a job is retried
(a replica that died after publishing and before XACK). Partials: PUBLISH_PARTIAL sends one
only while `published` is unset (a final supersedes partials); a worker does not decode a partial
once a final attempt is pending or published (partial_is_moot), nor a final job whose attempt is
cancelled, superseded or already published (final_is_void). Final translations go out once per
caption and language under their own marker `pub:{id}:final:{lang}` (PUBLISH_ONCE).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

import redis.asyncio as aioredis

from parley_common import keys
from parley_common.schemas import Caption

CAPTIONS_MAXLEN = 10_000
TRANSLATE_MAXLEN = 10_000
MARKER_TTL_S = 24 * 3600

# The fields of `utt:{caption id}` (the Lua scripts below spell the same names).
ATTEMPT = "attempt"
CONFIRMED = "confirmed"
EOS = "eos"
PUBLISHED = "published"


def cancel_field(attempt: int) -> str:
    return f"cancel:{attempt}"


def result_field(attempt: int) -> str:
    return f"result:{attempt}"


class UtteranceOp(StrEnum):
    """One step the segmenter commits for an utterance (SEGMENTER_COMMIT)."""

    FINAL = "final"  # a final job for attempt n: data = the SttJob JSON
    PARTIAL = "partial"  # a partial job: data = the SttJob JSON
    CANCEL = "cancel"  # attempt n is void: data unused
    CONFIRM = "confirm"  # attempt n's end of speech is confirmed: data = when (epoch s)


class Commit(Enum):
    """What SEGMENTER_COMMIT did."""

    DONE = 1
    LEASE_LOST = 0  # another replica owns the speaker
    STALE = -1  # the stored checkpoint is not the one this owner last wrote or read


def checkpoint_digest(checkpoint: str | bytes | None) -> str:
    """What SEGMENTER_COMMIT compares a stored checkpoint by (Redis's sha1hex); "" for none."""
    if checkpoint is None:
        return ""
    return hashlib.sha1(checkpoint.encode() if isinstance(checkpoint, str) else checkpoint).hexdigest()


@dataclass(frozen=True, slots=True)
class Step:
    op: UtteranceOp
    caption_id: str
    attempt: int
    data: str = ""


# KEYS: marker, stream[, second stream]  ARGV: maxlen, ttl, data
PUBLISH_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[3])
if KEYS[3] then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[3]) end
return id
"""

# A partial goes out only while its utterance has no final yet (finals supersede partials).
# KEYS: utterance hash, captions stream[, translate partial stream]  ARGV: maxlen, data
PUBLISH_PARTIAL = """
if redis.call('HEXISTS', KEYS[1], 'published') == 1 then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[2])
if KEYS[3] then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'v', '1', 'data', ARGV[2]) end
return id
"""

# The last transition: publish attempt `confirmed` once both its confirmation and its result are
# there. A Lua function shared by STORE_FINAL (the worker's side) and SEGMENTER_COMMIT.
PUBLISH_FINAL_IF_READY = """
local function publish_final_if_ready(ukey, captions, translate, maxlen, persist)
  local confirmed = redis.call('HGET', ukey, 'confirmed')
  if not confirmed then return false end
  local data = redis.call('HGET', ukey, 'result:' .. confirmed)
  if not data then return false end
  if redis.call('HSETNX', ukey, 'published', confirmed) == 0 then return false end
  local eos = redis.call('HGET', ukey, 'eos') or '0'
  local t = redis.call('TIME')
  local now = string.format('%d.%06d', t[1], t[2])
  local id = redis.call('XADD', captions, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  redis.call('XADD', translate, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  redis.call('XADD', persist, 'MAXLEN', '~', maxlen, '*', 'v', '1', 'data', data, 'eos', eos, 'pub', now)
  return id
end
"""

# The worker's side: store the decoded final of an attempt, publish it if already confirmed.
# KEYS: utterance hash, captions stream, translate final stream, persist stream  ARGV: maxlen, attempt, data, ttl
STORE_FINAL = (
    PUBLISH_FINAL_IF_READY
    + """
redis.call('HSET', KEYS[1], 'result:' .. ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return publish_final_if_ready(KEYS[1], KEYS[2], KEYS[3], ARGV[1], KEYS[4])
"""
)

# The segmenter's side: its jobs, cancels and confirmations, and the speaker's checkpoint, in one
# step, only while it holds the speaker's lease (0 when another replica owns the speaker).
# KEYS: lease, state, final jobs, partial jobs, captions stream, translate final stream, persist stream
# ARGV: owner, state json, jobs maxlen, captions maxlen, ttl, utterance key prefix,
#       then (op, caption id, attempt, data) x n
SEGMENTER_COMMIT = (
    PUBLISH_FINAL_IF_READY
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local stored = redis.call('GET', KEYS[2])
if (stored and redis.sha1hex(stored) or '') ~= ARGV[7] then return -1 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
for i = 8, #ARGV, 4 do
  local op, cid, att, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ukey = ARGV[6] .. cid
  if op == 'final' then
    redis.call('HSET', ukey, 'attempt', att)
    redis.call('EXPIRE', ukey, ARGV[5])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'v', '1', 'data', data)
  elseif op == 'partial' then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'v', '1', 'data', data)
  elseif op == 'cancel' then
    redis.call('HSET', ukey, 'cancel:' .. att, '1')
    redis.call('EXPIRE', ukey, ARGV[5])
  elseif op == 'confirm' then
    redis.call('HSET', ukey, 'confirmed', att, 'eos', data)
    redis.call('EXPIRE', ukey, ARGV[5])
    publish_final_if_ready(ukey, KEYS[5], KEYS[6], ARGV[4], KEYS[7])
  end
end
return 1
"""
)


async def partial_is_moot(r: aioredis.Redis, caption_id: str) -> bool:
    """A partial is not worth decoding once a final attempt is pending (not cancelled) or published:
    the speaker paused, and the final is on its way."""
    ukey = keys.utterance_state(caption_id)
    latest, published = await r.hmget(ukey, ATTEMPT, PUBLISHED)
    if published:
        return True
    return latest is not None and not await r.hexists(ukey, cancel_field(int(latest)))


async def final_is_void(r: aioredis.Redis, caption_id: str, attempt: int) -> bool:
    """A final job is not worth decoding when its attempt was cancelled or superseded by a later
    one, or the utterance is already published."""
    ukey = keys.utterance_state(caption_id)
    latest, published = await r.hmget(ukey, ATTEMPT, PUBLISHED)
    if published or (latest is not None and int(latest) > attempt):
        return True
    return bool(await r.hexists(ukey, cancel_field(attempt)))


class Publisher:
    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r
        self._once = r.register_script(PUBLISH_ONCE)
        self._partial = r.register_script(PUBLISH_PARTIAL)
        self._store_final = r.register_script(STORE_FINAL)
        self._segmenter_commit = r.register_script(SEGMENTER_COMMIT)

    async def partial(self, caption: Caption, *, translate: bool) -> bool:
        stamped = caption.model_copy(
            update={"timing": caption.timing.model_copy(update={"published": time.time()})}
        )
        streams = [keys.captions_stream(caption.room)]
        if translate:
            streams.append(keys.TRANSLATE_JOBS_PARTIAL)
        res = await self._partial(
            keys=[keys.utterance_state(caption.id), *streams],
            args=[CAPTIONS_MAXLEN, stamped.model_dump_json()],
        )
        return res is not None

    async def store_final_result(self, caption: Caption, attempt: int) -> bool:
        """Store a decoded final for `attempt`; publish it if its end of speech is already confirmed."""
        res = await self._store_final(
            keys=[
                keys.utterance_state(caption.id),
                keys.captions_stream(caption.room),
                keys.TRANSLATE_JOBS_FINAL,
                keys.PERSIST_CAPTIONS,
            ],
            args=[CAPTIONS_MAXLEN, attempt, caption.model_dump_json(), MARKER_TTL_S],
        )
        return res is not None

    async def commit_segmenter(
        self,
        *,
        room: str,
        speaker: str,
        owner: str,
        checkpoint: str,
        previous: str,
        steps: Sequence[Step],
        jobs_maxlen: int,
    ) -> Commit:
        """The segmenter's steps for one speaker and its checkpoint, atomically, while `owner` holds
        the speaker's lease (else LEASE_LOST) and the stored checkpoint is still the one it wrote or
        found last, `previous` (its checkpoint_digest; "" for none). Else STALE, nothing written: a
        write of its own was lost (a Redis failover drops the master's unreplicated tail while the
        client retries on the new master without an error), and what the lost write held (a final
        job) would be gone for good if the segmenter went on from its memory."""
        args: list[str | int] = [
            owner,
            checkpoint,
            jobs_maxlen,
            CAPTIONS_MAXLEN,
            MARKER_TTL_S,
            keys.utterance_state(""),
            previous,
        ]
        for s in steps:
            args += [s.op.value, s.caption_id, s.attempt, s.data]
        ok = await self._segmenter_commit(
            keys=[
                keys.segmenter_lease(room, speaker),
                keys.segmenter_state(room, speaker),
                keys.STT_JOBS_FINAL,
                keys.STT_JOBS_PARTIAL,
                keys.captions_stream(room),
                keys.TRANSLATE_JOBS_FINAL,
                keys.PERSIST_CAPTIONS,
            ],
            args=args,
        )
        return Commit(int(ok))

    async def once(self, marker: str, caption: Caption) -> bool:
        """Publish a final translation at most once per marker (to the room and the transcript store)."""
        stamped = caption.model_copy(
            update={"timing": caption.timing.model_copy(update={"published": time.time()})}
        )
        res = await self._once(
            keys=[marker, keys.captions_stream(caption.room), keys.PERSIST_CAPTIONS],
            args=[CAPTIONS_MAXLEN, MARKER_TTL_S, stamped.model_dump_json()],
        )
        return res is not None
