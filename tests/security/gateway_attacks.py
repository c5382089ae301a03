"""Attacks on the gateway: the caption socket, the admin API, invites and logins. Each answers
(refused, what happened); tests/security/test_gateway_*.py run them against a test deployment,
`make attack` against `make run`'s."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import websockets
from attack_kit import CaptionSocket, Deployment, attack
from parley_common import keys
from parley_common.schemas import Caption, CaptionType, Word

SPOKEN = "and so we agreed that the budget for the second quarter goes to the translation work first"


def caption(room: str, i: int, kind: CaptionType = CaptionType.FINAL, lang: str = "en") -> Caption:
    """A caption the size the STT publishes (a dozen words with timings)."""
    words = [
        Word(w=w, start=3.0 * i + 0.2 * k, end=3.0 * i + 0.2 * k + 0.18) for k, w in enumerate(SPOKEN.split())
    ]
    return Caption(
        type=kind,
        id=keys.caption_id(room, "alice", i),
        room=room,
        speaker="alice",
        speaker_name="Alice",
        utt=i,
        rev=0,
        lang=lang,
        text=SPOKEN,
        source_lang="en",
        source_text=SPOKEN,
        start=3.0 * i,
        end=3.0 * i + 2.8,
        words=words,
    )


async def fill_captions(dep: Deployment, room: str, finals: int, partials_per_final: int = 0) -> None:
    """A meeting's history on the room's captions stream, as the STT leaves it."""
    r = dep.redis()
    try:
        async with r.pipeline(transaction=False) as pipe:
            for i in range(finals):
                for _ in range(partials_per_final):
                    pipe.xadd(keys.captions_stream(room), caption(room, i, CaptionType.PARTIAL).to_fields())
                pipe.xadd(keys.captions_stream(room), caption(room, i).to_fields())
            await pipe.execute()
    finally:
        await r.aclose()


async def guest_token(dep: Deployment, room: str, name: str = "Mallory") -> str:
    code = await dep.invite(room)
    resp = await dep.join_invite(code, name)
    resp.raise_for_status()
    return str(resp.json()["token"])


async def backfill_langs(dep: Deployment, room: str) -> dict[str, int]:
    """Earlier lines of `room` the gateway asked the translators for, per language: distinct
    (caption, language) pairs (a translator may put a job back on the stream to retry it)."""
    r = dep.redis()
    try:
        pairs: set[tuple[str, str]] = set()
        for _, fields in await r.xrange(keys.TRANSLATE_JOBS_BACKFILL):
            c = Caption.from_fields(fields)
            if c.room == room:
                pairs.add((c.id, fields[b"lang"].decode()))
        out: dict[str, int] = {}
        for _, lang in pairs:
            out[lang] = out.get(lang, 0) + 1
        return out
    finally:
        await r.aclose()


@attack("guest asks for captions in made-up languages")
async def made_up_caption_languages(dep: Deployment) -> tuple[bool, str]:
    """Each made-up language would be translated for every caption from then on, backfilled for
    every earlier final, kept in captions:{room} (pushing real history out) and stored in Postgres."""
    room = await dep.new_room("amplify")
    await fill_captions(dep, room, 20)
    fake = [f"x{chr(97 + i)}{chr(97 + j)}" for i in range(3) for j in range(5)]
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        replies = []
        for lang in fake:  # paced below the socket's message budget: each one is judged on its own
            await ws.send({"type": "set_lang", "lang": lang})
            replies.append(await ws.next(5))
            await asyncio.sleep(0.25)
    r = dep.redis()
    try:
        wanted = {x.decode() for x in await r.zrange(keys.room_languages(room), 0, -1)}
    finally:
        await r.aclose()
    queued = await backfill_langs(dep, room)
    accepted = sorted((set(fake) & wanted) | (set(fake) & set(queued)))
    errors = sum(1 for m in replies if m and m.get("type") == "error")
    return not accepted and errors == len(fake), (
        f"{len(accepted)} of {len(fake)} made-up languages accepted "
        f"({sum(queued.values())} backfill jobs queued); {errors} refused"
    )


@attack("guest switches caption language as fast as it can")
async def language_switch_flood(dep: Deployment) -> tuple[bool, str]:
    """Every switch to a language asks the translators for each earlier final again."""
    room = await dep.new_room("switch-flood", caption_languages=["es", "ca"])
    await fill_captions(dep, room, 50)
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        for i in range(60):
            await ws.send({"type": "set_lang", "lang": ("es", "ca", "source")[i % 3]})
        replies = []
        while (m := await ws.next(3)) is not None:
            replies.append(m)
    limited = sum(1 for m in replies if m.get("type") == "error" and "too many" in str(m.get("error")))
    queued = sum((await backfill_langs(dep, room)).values())
    # Two languages x 50 earlier finals is all the translators ever need to be asked for.
    return queued <= 2 * 50 and limited > 0, (
        f"60 switches: {queued} backfill jobs queued for 50 earlier finals, {limited} switches rate-limited"
    )


@attack("guest stalls the gateway with language switches on a long meeting")
async def language_switch_stall(dep: Deployment) -> tuple[bool, str]:
    """Each switch used to read and parse the whole captions stream (~11 MB, ~1 s of CPU) on the
    gateway's one event loop: every other socket and request waited. Measured as the gateway's
    CPU time per switch once the room's history is indexed (the first switch waits for that)."""
    langs = ("es", "ca", "gl")  # languages apertium delivers (a room offers only those)
    room = await dep.new_room("stall", caption_languages=list(langs))
    await fill_captions(dep, room, 2000, partials_per_final=4)
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello", 20)
        await ws.send({"type": "set_lang", "lang": "source"})
        await ws.until("lang", 30)
        cpu0, _ = await dep.gateway_process()
        t0 = time.perf_counter()
        for lang in langs * 2:
            await ws.send({"type": "set_lang", "lang": lang})
        replies = 0
        while replies < 2 * len(langs) and await ws.until("lang", 30) is not None:
            replies += 1
        wall = time.perf_counter() - t0
        cpu1, _ = await dep.gateway_process()
    per_switch = (cpu1 - cpu0) / (2 * len(langs))
    return per_switch < 0.05 and replies == 2 * len(langs), (
        f"{replies} switches on a 10,000-event stream: {per_switch * 1000:.0f} ms of gateway CPU each "
        f"({wall:.1f} s wall for all)"
    )


async def open_many(dep: Deployment, room: str, tokens: list[str], since: str = "") -> list[CaptionSocket]:
    """Caption sockets for each token, opened at once; those the gateway let through (a `hello`)."""

    async def one(token: str) -> CaptionSocket | None:
        try:
            ws = await dep.captions(room, token, since=since)
        except (OSError, websockets.WebSocketException):
            return None
        if await ws.until("hello", 30) is None:
            await ws.close()
            return None
        return ws

    got = await asyncio.gather(*(one(t) for t in tokens))
    return [ws for ws in got if ws is not None]


@attack("guest opens caption sockets without limit")
async def caption_socket_flood(dep: Deployment) -> tuple[bool, str]:
    """Each socket costs the gateway buffers, a queue and a task; one token opened 60."""
    room = await dep.new_room("sockets")
    token = await guest_token(dep, room)
    sockets = await open_many(dep, room, [token] * 60)
    for ws in sockets:
        await ws.close()
    return len(sockets) <= 5, f"{len(sockets)} of 60 caption sockets on one token accepted"


@attack("guests replay the caption history on many sockets at once")
async def history_replay_flood(dep: Deployment) -> tuple[bool, str]:
    """`since=0-0` replayed up to 2,000 events per socket, each parsed into its own objects."""
    room = await dep.new_room("replay")
    await fill_captions(dep, room, 2000, partials_per_final=4)
    tokens = [await guest_token(dep, room, f"Guest {i}") for i in range(12)]
    _, rss0 = await dep.gateway_process()
    peak = rss0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, (await dep.gateway_process())[1])
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    sockets = await open_many(dep, room, tokens * 5, since="0-0")

    async def drain(ws: CaptionSocket) -> int:
        n = 0
        while (m := await ws.next(2.0)) is not None and m.get("type") == "caption":
            n += 1
        return n

    replayed = sum(await asyncio.gather(*(drain(ws) for ws in sockets)))
    done.set()
    await watcher
    for ws in sockets:
        await ws.close()
    growth = peak - rss0
    per_socket = replayed / max(1, len(sockets))
    return growth < 100 and per_socket <= 500, (
        f"{len(sockets)} sockets replayed {per_socket:.0f} events each; gateway RSS +{growth:.0f} MB "
        f"(peak {peak:.0f} MB)"
    )


async def host_headers(dep: Deployment, room: str) -> dict[str, str]:
    host = await dep.token(room, "Hal", role="host")
    return {"Authorization": f"Bearer {host['token']}"}


@attack("removed guest keeps reading captions")
async def removed_guest_keeps_listening(dep: Deployment) -> tuple[bool, str]:
    room = await dep.new_room("removed")
    joined = (await dep.join_invite(await dep.invite(room))).json()
    async with await dep.captions(room, joined["token"]) as ws:
        await ws.until("hello")
        resp = await dep.call(
            "DELETE",
            f"/api/v1/rooms/{room}/participants/{joined['participant_id']}",
            headers=await host_headers(dep, room),
            as_attacker=False,
        )
        resp.raise_for_status()
        code = await ws.closed(3)
    return (
        code is not None,
        f"caption socket {'closed (' + str(code) + ')' if code else 'still open 3 s'} after removal",
    )


@attack("guest keeps reading captions after the room is closed")
async def closed_room_keeps_listening(dep: Deployment) -> tuple[bool, str]:
    room = await dep.new_room("closed")
    token = await guest_token(dep, room)
    async with await dep.captions(room, token) as ws:
        await ws.until("hello")
        resp = await dep.call(
            "POST", f"/api/v1/rooms/{room}/close", headers=await host_headers(dep, room), as_attacker=False
        )
        resp.raise_for_status()
        code = await ws.closed(3)
    async with await dep.captions(room, token) as again:
        first = await again.next(3)
        reopened = bool(first and first.get("type") == "hello")
    return code is not None and not reopened, (
        f"open socket {'closed' if code else 'still open 3 s'} after the room closed; "
        f"a new socket {'was accepted' if reopened else 'was refused'}"
    )


@attack("removed guest reopens the invite link")
async def removed_guest_reopens_invite(dep: Deployment) -> tuple[bool, str]:
    """A fresh participant id each time the invite is opened: removal did not stick."""
    room = await dep.new_room("rejoin")
    code = await dep.invite(room)
    joined = (await dep.join_invite(code)).json()
    resp = await dep.call(
        "DELETE",
        f"/api/v1/rooms/{room}/participants/{joined['participant_id']}",
        headers=await host_headers(dep, room),
        as_attacker=False,
    )
    resp.raise_for_status()
    again = await dep.join_invite(code, "Mallory again")
    return again.status_code == 403, f"reopening the invite after removal: HTTP {again.status_code}"


@attack("guest uses an invite link the host revoked")
async def revoked_invite_still_admits(dep: Deployment) -> tuple[bool, str]:
    room = await dep.new_room("revoke")
    created = await dep.admin("POST", f"/api/v1/rooms/{room}/invites")
    created.raise_for_status()
    invite = created.json()
    revoked = await dep.call(
        "DELETE",
        f"/api/v1/rooms/{room}/invites/{invite.get('id', 0)}",
        headers=await host_headers(dep, room),
        as_attacker=False,
    )
    joined = await dep.join_invite(invite["code"])
    return joined.status_code in (404, 409, 410), (
        f"revoke: HTTP {revoked.status_code}; the revoked link then answered HTTP {joined.status_code}"
    )


PROXY_IP = "127.0.0.2"  # the reverse proxy the attack's gateway trusts (TRUSTED_PROXIES)


def through_proxy(client: str) -> dict[str, str]:
    """Headers of a request that reached the gateway through the reverse proxy, from `client`."""
    return {"X-Forwarded-For": client}


@attack("attacker locks the admin out with wrong passwords")
async def admin_lockout(dep: Deployment) -> tuple[bool, str]:
    """One address, 30 wrong passwords for the admin's user name; then the admin logs in from
    another address."""
    codes = []
    for i in range(30):
        resp = await dep.call(
            "POST", "/api/v1/auth/login", json={"username": dep.admin_user, "password": f"guess-{i}"}
        )
        codes.append(resp.status_code)
    real = await dep.call(
        "POST",
        "/api/v1/auth/login",
        json={"username": dep.admin_user, "password": dep.admin_password},
        as_attacker=False,
    )
    limited = sum(1 for c in codes if c == 429)
    return real.status_code == 200 and limited > 0, (
        f"30 wrong passwords: {limited} rate-limited; the admin's own login then answered HTTP {real.status_code}"
    )


@attack("attacker behind the proxy locks every guest out with bogus invite codes", setup="replica")
async def shared_proxy_bucket(dep: Deployment) -> tuple[bool, str]:
    """Behind a reverse proxy every request comes from the proxy's address: when the limits are
    keyed on it, one attacker's 70 bogus codes use up everyone's allowance. `dep` must be a
    gateway that trusts PROXY_IP as its reverse proxy (PARLEY_GATEWAY_TRUSTED_PROXIES); the
    attacker's and the guest's requests come through it."""
    room = await dep.new_room("proxy")
    code = await dep.invite(room)
    statuses = []
    for i in range(70):
        resp = await dep.call(
            "POST",
            f"/api/v1/invites/bogus-invite-code-{i:04d}/join",
            json={"name": "Mallory"},
            headers=through_proxy("203.0.113.66"),
            source=PROXY_IP,
        )
        statuses.append(resp.status_code)
    guest = await dep.call(
        "POST",
        f"/api/v1/invites/{code}/join",
        json={"name": "Grace"},
        headers=through_proxy("198.51.100.7"),
        source=PROXY_IP,
    )
    limited = statuses.count(429)
    return guest.status_code == 201 and limited > 0, (
        f"70 bogus codes through the proxy: {limited} rate-limited; a real guest then got HTTP {guest.status_code}"
    )


@attack("attacker guesses invite codes")
async def invite_enumeration(dep: Deployment) -> tuple[bool, str]:
    """Bogus codes as fast as the gateway answers: how many are checked before it stops answering."""
    checked = 0
    for i in range(100):
        resp = await dep.call("POST", f"/api/v1/invites/guessed-code-{i:05d}/join", json={"name": "Mallory"})
        if resp.status_code == 429:
            break
        checked += 1
    return checked <= 20, f"{checked} guessed codes checked before the first 429"


@attack("attacker times logins to learn which user names exist")
async def login_timing(dep: Deployment) -> tuple[bool, str]:
    """A wrong password for a real user name cost a password hash; for an unknown one, nothing.
    Each try from an address of its own (no back-off in the way), real and unknown interleaved;
    the fastest of each is compared (a busy machine only ever adds time)."""
    samples: dict[str, list[float]] = {dep.admin_user: [], "no-such-admin-user": []}
    for i in range(6):
        for k, user in enumerate(samples):
            transport = httpx.AsyncHTTPTransport(local_address=dep.other_ip(10 + 2 * i + k))
            async with httpx.AsyncClient(base_url=dep.http, transport=transport, timeout=30) as client:
                await client.get("/healthz")  # the connection is made before the clock starts
                t0 = time.perf_counter()
                await client.post("/api/v1/auth/login", json={"username": user, "password": f"x{i}"})
                samples[user].append(time.perf_counter() - t0)
    known, unknown = (min(v) * 1000 for v in samples.values())
    return min(known, unknown) > 0.5 * max(known, unknown), (
        f"a wrong password took at least {known:.0f} ms for the admin, {unknown:.0f} ms for an unknown user"
    )


def forged_admin_session(secret: str, username: str) -> str:
    now = int(time.time())
    claims = {"sub": username, "aud": "parley-admin", "iat": now, "exp": now + 600}
    return jwt.encode(claims, secret, algorithm="HS256")


async def admin_session_works(dep: Deployment, token: str) -> int:
    return (await dep.call("GET", "/api/v1/rooms", token=token)).status_code


@attack("attacker forges an admin session with the development placeholder secret")
async def forge_admin_with_placeholder(dep: Deployment) -> tuple[bool, str]:
    """The placeholder is in the repository; a development gateway signed admin sessions with it."""
    status = await admin_session_works(dep, forged_admin_session("dev-secret-change-me", dep.admin_user))
    return status == 401, f"an admin session signed with 'dev-secret-change-me': HTTP {status}"


@attack("compromised SFU forges an admin session with the join-token secret")
async def forge_admin_with_join_secret(dep: Deployment) -> tuple[bool, str]:
    """The SFU holds the join-token secret (it verifies join tokens); admin sessions must not be
    signed with it."""
    status = await admin_session_works(dep, forged_admin_session(dep.join_token_secret, dep.admin_user))
    return status == 401, f"an admin session signed with the join-token secret: HTTP {status}"


async def login(dep: Deployment, username: str, password: str, source: str | None = None) -> httpx.Response:
    return await dep.call(
        "POST", "/api/v1/auth/login", json={"username": username, "password": password}, source=source
    )


@attack("stolen admin session outlives a password change")
async def session_outlives_password_change(dep: Deployment) -> tuple[bool, str]:
    """The admin notices a leak and changes the password: a session token the thief holds must die."""
    user, old, new = dep.unique("leaky-admin"), "leaky-admin-password-1", "leaky-admin-password-2"
    made = await dep.admin("POST", "/api/v1/admin-accounts", username=user, password=old)
    stolen = (await login(dep, user, old, source="127.0.0.1")).json().get("access_token", "")
    changed = await dep.call(
        "POST",
        "/api/v1/auth/password",
        json={"current_password": old, "new_password": new},
        token=stolen,
        as_attacker=False,
    )
    status = (await dep.call("GET", "/api/v1/rooms", token=stolen)).status_code
    return changed.status_code == 204 and status == 401, (
        f"account: HTTP {made.status_code}; password change: HTTP {changed.status_code}; "
        f"the session from before it then answered HTTP {status}"
    )


@attack("disabled admin account keeps working")
async def disabled_admin_keeps_working(dep: Deployment) -> tuple[bool, str]:
    """An admin leaves (or their laptop is stolen): disabling the account must end its sessions and
    the API keys it made."""
    user, password = dep.unique("leaving-admin"), "leaving-admin-password"
    await dep.admin("POST", "/api/v1/admin-accounts", username=user, password=password)
    session = (await login(dep, user, password, source="127.0.0.1")).json().get("access_token", "")
    key = (
        await dep.call("POST", "/api/v1/api-keys", json={"name": "laptop"}, token=session, as_attacker=False)
    ).json()
    disabled = await dep.admin("PATCH", f"/api/v1/admin-accounts/{user}", disabled=True)
    by_session = (await dep.call("GET", "/api/v1/rooms", token=session)).status_code
    by_key = (await dep.call("GET", "/api/v1/rooms", token=str(key.get("key", "")))).status_code
    relogin = (await login(dep, user, password, source=dep.other_ip(1))).status_code
    return disabled.status_code == 200 and {by_session, by_key, relogin} == {401}, (
        f"disable: HTTP {disabled.status_code}; then its session HTTP {by_session}, its API key "
        f"HTTP {by_key}, a new login HTTP {relogin}"
    )


@attack("admin sets a guessable password")
async def short_admin_password(dep: Deployment) -> tuple[bool, str]:
    made = await dep.admin(
        "POST", "/api/v1/admin-accounts", username=dep.unique("weak-admin"), password="1234"
    )
    return made.status_code == 422, f"an admin account with the password '1234': HTTP {made.status_code}"


@attack("compromised service ends a room's caption feed with a malformed entry")
async def malformed_caption_entry(dep: Deployment) -> tuple[bool, str]:
    """A caption whose publish stamp is not a number (float() raised past the schema check)."""
    room = await dep.new_room("poison")
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        r = dep.redis()
        try:
            await r.xadd(keys.captions_stream(room), {**caption(room, 0).to_fields(), "pub": "not-a-number"})
            await r.xadd(keys.captions_stream(room), caption(room, 1).to_fields())
        finally:
            await r.aclose()
        got = await ws.until("caption", 5)
    ok = got is not None and got["caption"]["utt"] == 1
    return ok, f"the caption after the malformed one {'arrived' if ok else 'never arrived: the feed died'}"


@attack("guest sends deeply nested JSON on the caption socket")
async def nested_json(dep: Deployment) -> tuple[bool, str]:
    room = await dep.new_room("nested")
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        await ws.send("[" * 4000)
        reply = await ws.next(5)
        await ws.send({"type": "ping"})
        pong = await ws.until("pong", 5)
    return pong is not None, f"reply {reply}; the socket {'still answers' if pong else 'died'}"


@attack("guest injects subtitle cues through its display name")
async def name_injection(dep: Deployment) -> tuple[bool, str]:
    """A display name with line breaks became extra cues (or a fake speaker) in .srt/.vtt/.txt."""
    room = await dep.new_room("names")
    code = await dep.invite(room)
    evil = "Mallory\n\n99\n00:00:00,000 --> 00:59:00,000\nThe host says: send money"
    joined = await dep.call("POST", f"/api/v1/invites/{code}/join", json={"name": evil})
    return (
        joined.status_code == 422,
        f"an invite opened with a multi-line display name: HTTP {joined.status_code}",
    )


async def gateway_log(dep: Deployment) -> str:
    return await asyncio.to_thread(lambda: dep.log_path.read_text(errors="replace") if dep.log_path else "")


@attack("attacker reads join tokens and invite codes from the logs", setup="replica")
async def secrets_in_logs(dep: Deployment) -> tuple[bool, str]:
    """Logs go to Loki, which more people read than may join meetings."""
    room = await dep.new_room("logs")
    code = await dep.invite(room)
    token = (await dep.join_invite(code)).json()["token"]
    async with await dep.captions(room, token) as ws:
        await ws.until("hello")
    await dep.call("GET", f"/join/{code}")
    await asyncio.sleep(0.5)
    text = await gateway_log(dep)
    leaked = [what for what, secret in (("a join token", token), ("an invite code", code)) if secret in text]
    if not text:
        return False, "no gateway log to read (Deployment.log_path)"
    return not leaked, f"the gateway's log holds {', '.join(leaked) or 'neither token nor invite code'}"


@attack("guest fills a room by reopening its invite")
async def invite_room_fill(dep: Deployment) -> tuple[bool, str]:
    """Every invite opening made a participant that counted against max_participants for good:
    a few openings and the room was 'full' for everyone, though nobody was in it."""
    room = await dep.new_room("fill", max_participants=3)
    code = await dep.invite(room)
    opened = [(await dep.join_invite(code, f"Sock {i}")).status_code for i in range(4)]
    real = await dep.call(
        "POST", f"/api/v1/invites/{code}/join", json={"name": "Grace"}, source=dep.other_ip(1)
    )
    return real.status_code == 201, (
        f"the attacker opened the invite 4 times ({opened}); a real guest then got HTTP {real.status_code}"
    )


@attack("attacker posts a huge request body")
async def huge_body(dep: Deployment) -> tuple[bool, str]:
    _, rss0 = await dep.gateway_process()
    t0 = time.perf_counter()
    try:
        resp = await dep.call(
            "POST",
            "/api/v1/invites/some-invite-code/join",
            content=b'{"name": "' + b"A" * (64 * 2**20) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        status = resp.status_code
    except httpx.HTTPError as exc:  # the gateway may hang up before the body is sent
        status = type(exc).__name__
    took = time.perf_counter() - t0
    _, rss1 = await dep.gateway_process()
    return status in (413, "WriteError", "RemoteProtocolError") and rss1 - rss0 < 30, (
        f"a 64 MB body: {status} after {took:.1f} s; gateway RSS {rss0:.0f} -> {rss1:.0f} MB"
    )


@attack("attacker frames the meeting page or injects a script into it")
async def page_headers(dep: Deployment) -> tuple[bool, str]:
    """No CSP (frame-ancestors, script-src), no nosniff; invite links leaked through Referer."""
    missing = []
    for path in ("/", "/join/some-invite-code", "/api/v1/rooms"):
        headers = (await dep.call("GET", path)).headers
        csp = headers.get("content-security-policy", "")
        if path != "/api/v1/rooms" and not ("frame-ancestors 'none'" in csp and "script-src 'self'" in csp):
            missing.append(f"{path}: CSP")
        if headers.get("x-content-type-options") != "nosniff":
            missing.append(f"{path}: nosniff")
        if headers.get("referrer-policy") != "no-referrer":
            missing.append(f"{path}: Referrer-Policy")
    return (
        not missing,
        f"missing: {', '.join(missing)}" if missing else "CSP, nosniff and no-referrer on every page",
    )


@attack("guest floods the caption socket with messages")
async def caption_message_flood(dep: Deployment) -> tuple[bool, str]:
    """Every message is parsed and most answered: 3,000 pings as fast as the socket takes them."""
    room = await dep.new_room("msg-flood")
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        for _ in range(3000):
            try:
                await ws.send({"type": "ping"})
            except websockets.ConnectionClosed:
                break
        answered = 0
        while (m := await ws.next(2)) is not None:
            answered += m.get("type") == "pong"
        code = await ws.closed(1)
    closed = code if code is not None else ("closed" if ws.ws.close_code else None)
    return (
        answered < 500 and closed is not None,
        f"3,000 pings: {answered} answered; socket {closed or 'still open'}",
    )


@attack("guest resumes from an impossible event id")
async def bad_since(dep: Deployment) -> tuple[bool, str]:
    """An id past 2^64 went to Redis as it was: the handler died with Redis's error (1011)."""
    room = await dep.new_room("since")
    async with await dep.captions(
        room, await guest_token(dep, room), since="99999999999999999999999-0"
    ) as ws:
        first = await ws.next(5)
        code = await ws.closed(3)
    ok = bool(first and first.get("type") == "error" and "since" in str(first.get("error"))) and code == 1008
    return ok, f"first message {first}; closed with {code}"


PUBLIC = {("post", "/api/v1/auth/login"), ("post", "/api/v1/invites/{code}/join")}


async def every_endpoint(dep: Deployment, token: str, room: str) -> dict[str, int]:
    """Each operation of the API (from its OpenAPI schema, read as the operator) called with `token`
    on `room`: {"METHOD path": status}."""
    spec = (await dep.call("GET", "/openapi.json", as_attacker=False)).json()
    fill = {
        "slug": room,
        "participant_id": "someone",
        "invite_id": "1",
        "key_id": "1",
        "username": dep.admin_user,
    }
    out = {}
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/"):
            continue  # /healthz, /metrics: no data (and Caddy answers /metrics with 404 outside)
        for method in ops:
            if (method, path) in PUBLIC:
                continue
            url = path
            for name, value in fill.items():
                url = url.replace("{" + name + "}", value)
            resp = await dep.call(
                method.upper(), url, token=token, json={} if method in ("post", "patch") else None
            )
            out[f"{method.upper()} {path}"] = resp.status_code
    return out


@attack("guest and listener call every admin and host endpoint")
async def role_sweep(dep: Deployment) -> tuple[bool, str]:
    room = await dep.new_room("roles")
    other = await dep.new_room("roles-other")
    tokens = {
        "guest": await guest_token(dep, room),
        "listener": (await dep.token(room, "Lena", role="listener"))["token"],
        "host of another room": (await dep.token(other, "Otto", role="host"))["token"],
    }
    allowed, calls = [], 0
    for who, token in tokens.items():
        for op, status in (await every_endpoint(dep, token, room)).items():
            calls += 1
            if status not in (401, 403):
                allowed.append(f"{who}: {op} -> {status}")
    if allowed:
        return False, f"{len(allowed)} of {calls} calls not refused: {allowed[:6]}"
    return True, f"all {calls} calls refused (401/403)"
