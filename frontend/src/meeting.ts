/** The meeting: tiles (video or avatar), mute, camera, leave, live captions, the transcript panel,
 * connection state. */
import type { PageConfig } from "./api";
import { type Caption, CaptionSocket, type ConnState, listenerLang } from "./captions";
import { download, h } from "./dom";
import { applyOffer, languageSelect } from "./languages";
import { type Choice, openCamera } from "./lobby";
import { SfuSession, type Peer } from "./sfu";
import { type Line, toSrt, toTxt, toVtt } from "./transcript";

const LIVE_LINES = 3; // captions on screen at once; older ones live in the transcript panel
const PARTIAL_MIN_MS = 300; // a partial line changes at most this often, so it stays readable
const SPEAKING_MS = 900; // a tile stays "speaking" this long after the last level report

export async function startMeeting(app: HTMLElement, choice: Choice, config: PageConfig): Promise<void> {
  const { token } = choice;
  const langSel = languageSelect(config, { "data-testid": "lang", "aria-label": "Captions in" });
  langSel.value = choice.lang;
  let currentLang = choice.lang; // what the caption socket delivers now
  const langNote = h("span", { class: "lang-note", role: "status", "data-testid": "lang-note" });
  const original = h("input", { type: "checkbox", "data-testid": "show-original" });
  const muteBtn = h("button", { "data-testid": "mute", "aria-pressed": "false" }, "Mute");
  muteBtn.disabled = !choice.mic;
  const camBtn = h("button", { "data-testid": "camera", "aria-pressed": "false" }, "Start camera");
  const listener = token.role === "listener";
  camBtn.disabled = listener;
  const leaveBtn = h("button", { class: "danger", "data-testid": "leave" }, "Leave");
  const status = h("span", { class: "status", role: "status", "data-testid": "status", "data-state": "connecting" }, "Connecting…");
  const tiles = h("section", { class: "tiles", "aria-label": "Participants", "data-testid": "tiles" });
  const live = h("div", { class: "captions", "data-testid": "captions", "aria-hidden": "true" });
  const announce = h("div", { class: "sr-only", "aria-live": "polite", "data-testid": "announce" });
  const search = h("input", { type: "search", placeholder: "Search the transcript", "aria-label": "Search the transcript", "data-testid": "search" });
  const list = h("ol", { class: "transcript", "data-testid": "transcript", "aria-label": "Transcript" });
  const dl = (fmt: string) => h("button", { "data-testid": `download-${fmt}` }, `.${fmt}`);
  const [txtBtn, srtBtn, vttBtn] = [dl("txt"), dl("srt"), dl("vtt")];
  const audio = h("div", { hidden: "" });

  const root = h("div", { class: "meeting" },
    h("div", { class: "bar" },
      h("h1", {}, `Room ${token.room}`), status, h("span", { class: "spacer" }),
      h("label", {}, "Captions in ", langSel), langNote,
      h("label", {}, original, " Show original"),
      muteBtn, camBtn, leaveBtn),
    h("div", { class: "stage" }, tiles, live, announce),
    h("aside", { class: "side", "aria-label": "Transcript panel" },
      h("header", {}, h("h2", {}, "Transcript"), search, h("div", { class: "downloads" }, "Download ", txtBtn, srtBtn, vttBtn)),
      list),
    audio);
  app.replaceChildren(root);

  // Connection state: one pill for both sockets.
  const states: Record<string, { s: ConnState; d: string }> = {
    media: { s: "connecting", d: "" },
    captions: { s: "connecting", d: "" },
  };
  const setState = (which: string, s: ConnState, d: string) => {
    states[which] = { s, d };
    const all = Object.entries(states);
    const closed = all.find(([, v]) => v.s === "closed");
    const bad = all.filter(([, v]) => v.s === "reconnecting" || v.s === "connecting");
    if (closed) {
      status.dataset.state = "closed";
      status.textContent = `Disconnected (${closed[0]}${closed[1].d ? `: ${closed[1].d}` : ""})`;
    } else if (bad.length) {
      const re = bad.some(([, v]) => v.s === "reconnecting");
      status.dataset.state = re ? "reconnecting" : "connecting";
      status.textContent = `${re ? "Reconnecting" : "Connecting"} ${bad.map(([k]) => k).join(" and ")}…`;
      status.title = bad.map(([k, v]) => `${k}: ${v.d}`).join("; ");
    } else {
      status.dataset.state = "live";
      status.textContent = "Connected";
      status.title = "";
    }
  };

  // Tiles.
  const tileEls = new Map<string, HTMLElement>();
  const spokeAt = new Map<string, number>();
  let selfId = token.participant_id;
  const tile = (p: Peer, self = false) => {
    let el = tileEls.get(p.id);
    if (!el) {
      el = h("div", { class: "tile", "data-peer": p.id, "data-testid": "tile" },
        h("div", { class: "avatar", "aria-hidden": "true" }, (p.name.trim()[0] ?? "?").toUpperCase()),
        h("div", { class: "name" }, self ? `${p.name} (you)` : p.name),
        h("div", { class: "muted" }));
      tileEls.set(p.id, el);
      tiles.append(el);
    }
    return el;
  };
  // A tile shows the peer's video while their camera is on, else the avatar (name and ring stay).
  const setVideo = (id: string, track: MediaStreamTrack | null) => {
    const el = tileEls.get(id);
    el?.querySelector("video")?.remove();
    el?.classList.toggle("has-video", Boolean(track));
    if (!el || !track) return;
    const v = h("video", { autoplay: "", playsinline: "", muted: "", "data-testid": "video" });
    v.muted = true; // its sound plays through the <audio> element
    v.srcObject = new MediaStream([track]);
    if (id === selfId) v.classList.add("self");
    el.prepend(v);
    void v.play().catch(() => {});
  };
  const setMutedTile = (id: string, muted: boolean) => {
    const el = tileEls.get(id)?.querySelector(".muted");
    if (el) el.textContent = muted ? "muted" : "";
  };
  setInterval(() => {
    const now = Date.now();
    for (const [id, el] of tileEls) el.classList.toggle("speaking", now - (spokeAt.get(id) ?? 0) < SPEAKING_MS);
  }, 150);

  let camera: MediaStreamTrack | null = listener ? null : choice.camera;
  if (listener) choice.camera?.stop();
  const sfu = new SfuSession(config.sfu_url, token.room, token.token, choice.mic, {
    state: (s, d) => setState("media", s, d),
    joined: (self, peers) => {
      selfId = self.id;
      for (const el of tileEls.values()) el.remove();
      tileEls.clear();
      tile(self, true);
      peers.forEach((p) => tile(p));
      setVideo(self.id, camera);
    },
    peerJoined: (p) => void tile(p),
    peerLeft: (id) => {
      tileEls.get(id)?.remove();
      tileEls.delete(id);
      audio.querySelector(`[data-peer="${CSS.escape(id)}"]`)?.remove();
    },
    track: (peerId, kind, track) => {
      if (kind === "video") {
        setVideo(peerId, track);
        return;
      }
      audio.querySelector(`[data-peer="${CSS.escape(peerId)}"]`)?.remove();
      if (!track) return;
      const el = h("audio", { autoplay: "", "data-peer": peerId });
      el.srcObject = new MediaStream([track]);
      audio.append(el);
      void el.play().catch(() => {});
    },
    levels: (ids) => ids.forEach((id) => spokeAt.set(id, Date.now())),
    peerMuted: setMutedTile,
    mutedByHost: () => {
      muted = true;
      renderMute();
    },
  }, camera);

  // Camera: on produces a video track, off closes it (and stops the camera).
  const renderCamera = () => {
    camBtn.textContent = camera ? "Stop camera" : "Start camera";
    camBtn.setAttribute("aria-pressed", String(Boolean(camera)));
    setVideo(selfId, camera);
  };
  camBtn.addEventListener("click", () => {
    camBtn.disabled = true;
    const next = camera ? Promise.resolve(null) : openCamera(choice.cameraId);
    next
      .then(async (track) => {
        camera?.stop();
        camera = track;
        renderCamera();
        await sfu.setCamera(track);
      })
      .catch((e: Error) => {
        camBtn.title = `Camera: ${e.message}`;
        console.warn("camera", e);
      })
      .finally(() => (camBtn.disabled = false));
  });
  renderCamera();

  let muted = false;
  const renderMute = () => {
    muteBtn.textContent = muted ? "Unmute" : "Mute";
    muteBtn.setAttribute("aria-pressed", String(muted));
    setMutedTile(selfId, muted);
  };
  muteBtn.addEventListener("click", () => {
    muted = !muted;
    renderMute();
    void sfu.setMuted(muted);
  });

  // Captions: live lines (partials replaced in place by their final) and the transcript.
  const liveEls = new Map<string, HTMLElement>();
  const finals = new Map<string, Caption>();
  const lastPaint = new Map<string, number>();
  const pendingPaint = new Map<string, number>();
  const pendingIds = new Set<string>(); // earlier lines being translated after a language switch
  const backfilled = new Set<string>(); // ids of every earlier final asked for in a new language
  const paint = (el: HTMLElement, c: Caption) => {
    const pending = c.type === "final" && pendingIds.has(c.id);
    const marks = [pending ? "pending" : "", c.for_lang ? "untranslated" : "", c.uncertain ? "uncertain" : ""];
    el.className = ["cap", c.type, ...marks.filter(Boolean)].join(" ");
    el.dataset.type = c.type;
    el.dataset.lang = c.lang;
    el.querySelector(".who")!.textContent = `${c.speaker_name || c.speaker}:`;
    el.querySelector(".text")!.textContent = pending ? c.source_text : c.text;
    el.querySelector(".note")!.textContent = noteFor(c);
    const translated = c.lang !== c.source_lang;
    el.querySelector(".orig")!.textContent = translated ? `${c.source_lang}: ${c.source_text}` : "";
    el.title = [translated ? `Original (${c.source_lang}): ${c.source_text}` : "", whyNote(c)].filter(Boolean).join("\n");
    lastPaint.set(c.id, Date.now());
  };
  const showLive = (c: Caption) => {
    let el = liveEls.get(c.id);
    if (el?.dataset.type === "final" && c.type === "partial") return; // a late partial never undoes a final
    if (!el) {
      el = h("p", { class: "cap", "data-id": c.id }, h("span", { class: "who" }), h("span", { class: "text" }), h("span", { class: "note" }), h("span", { class: "orig" }));
      liveEls.set(c.id, el);
      live.append(el);
      while (liveEls.size > LIVE_LINES) {
        const [oldId, oldEl] = liveEls.entries().next().value as [string, HTMLElement];
        oldEl.remove();
        liveEls.delete(oldId);
      }
    }
    clearTimeout(pendingPaint.get(c.id));
    const wait = c.type === "partial" ? PARTIAL_MIN_MS - (Date.now() - (lastPaint.get(c.id) ?? 0)) : 0;
    const target = el;
    if (wait > 0) pendingPaint.set(c.id, window.setTimeout(() => paint(target, c), wait));
    else paint(el, c);
  };
  const renderTranscript = () => {
    const q = search.value.trim().toLowerCase();
    const rows = [...finals.values()].sort((a, b) => a.start - b.start);
    list.replaceChildren(...rows
      .filter((c) => !q || c.text.toLowerCase().includes(q) || c.speaker_name.toLowerCase().includes(q) || c.source_text.toLowerCase().includes(q))
      .map((c) => {
        const text = h("span", { class: "text" });
        const pending = pendingIds.has(c.id);
        const shown = pending ? c.source_text : c.text; // the original until its translation comes
        const i = q ? shown.toLowerCase().indexOf(q) : -1;
        if (i >= 0) text.append(shown.slice(0, i), h("mark", {}, shown.slice(i, i + q.length)), shown.slice(i + q.length));
        else text.append(shown);
        const at = Math.max(0, c.start);
        const m = Math.floor(at / 60), s = Math.floor(at % 60);
        const li = h("li", { "data-id": c.id, "data-lang": c.lang, title: c.lang !== c.source_lang ? c.source_text : "" },
          h("span", { class: "t" }, `${m}:${String(s).padStart(2, "0")}`),
          h("span", { class: "who" }, `${c.speaker_name || c.speaker}:`), text);
        if (pending) {
          li.dataset.pending = "true";
          li.append(h("span", { class: "pending-note" }, " (translating…)"));
        } else if (noteFor(c)) {
          if (c.for_lang) li.dataset.untranslated = "true";
          if (c.uncertain) li.dataset.uncertain = "true";
          li.append(h("span", { class: "note", title: whyNote(c) }, noteFor(c)));
        }
        return li;
      }));
    list.scrollTop = list.scrollHeight;
  };
  search.addEventListener("input", renderTranscript);
  const lines = (): Line[] => [...finals.values()].map((c) => ({
    id: c.id, speaker: c.speaker_name || c.speaker, start: c.start, end: c.end, text: c.text, lang: c.lang,
  }));
  const base = () => `parley-${token.room}-${langSel.value}`;
  txtBtn.addEventListener("click", () => download(`${base()}.txt`, toTxt(lines()), "text/plain"));
  srtBtn.addEventListener("click", () => download(`${base()}.srt`, toSrt(lines()), "application/x-subrip"));
  vttBtn.addEventListener("click", () => download(`${base()}.vtt`, toVtt(lines()), "text/vtt"));

  const captions = new CaptionSocket(token.room, token.token, choice.lang, {
    caption: (c, _eventId, earlier) => {
      const had = finals.get(c.id);
      // An earlier line (or its translation) said before this page joined: not on it, nothing to turn.
      if (!had && (earlier || backfilled.has(c.id))) return;
      if (c.type === "final" && had && (earlier || pendingIds.has(c.id) || listenerLang(had) !== listenerLang(c))) {
        // An earlier line in the language just switched to: replace it where it is, no new line.
        finals.set(c.id, c);
        pendingIds.delete(c.id);
        const el = liveEls.get(c.id);
        if (el) paint(el, c);
        renderTranscript();
        return;
      }
      showLive(c);
      if (c.type !== "final") return;
      const seen = finals.has(c.id);
      finals.set(c.id, c);
      if (!seen) announce.textContent = `${c.speaker_name}: ${c.text}`;
      renderTranscript();
    },
    langSwitched: (lang, pending) => {
      currentLang = lang;
      langNote.textContent = "";
      for (const id of pending) {
        backfilled.add(id);
        const c = finals.get(id);
        if (c && listenerLang(c) !== lang) pendingIds.add(id); // lines this page shows, still in another language
      }
      for (const [id, el] of liveEls) {
        const c = finals.get(id);
        if (c && pendingIds.has(id)) paint(el, c);
      }
      renderTranscript();
    },
    retract: (id) => {
      liveEls.get(id)?.remove();
      liveEls.delete(id);
      if (finals.delete(id)) renderTranscript();
    },
    state: (s, d) => setState("captions", s, d),
    offer: (langs) => {
      applyOffer(langSel, langs);
      langSel.value = currentLang;
    },
    refused: (message, fellBack) => {
      // A switch (or, on reconnect, the language itself) the room cannot deliver: say why, keep
      // (or fall back to) what the socket delivers.
      if (fellBack) currentLang = "source";
      langSel.value = currentLang;
      langNote.textContent = message;
    },
  });
  langSel.addEventListener("change", () => {
    pendingIds.clear(); // the new switch's own pending list follows
    captions.setLang(langSel.value);
  });
  original.addEventListener("change", () => live.classList.toggle("show-original", original.checked));
  leaveBtn.addEventListener("click", () => {
    sfu.leave();
    captions.close();
    choice.mic?.stop();
    camera?.stop();
    leaveBtn.disabled = muteBtn.disabled = camBtn.disabled = true;
  });

  captions.open();
  await sfu.open();
}

/** A short mark after a caption that is not a plain one: the original in place of a translation
 * no engine can make, or text the decoder itself was unsure of. */
function noteFor(c: Caption): string {
  if (c.for_lang) return `(not translated into ${c.for_lang})`;
  if (c.uncertain) return "(uncertain)";
  return "";
}

function whyNote(c: Caption): string {
  if (c.for_lang) return `Not translated: ${c.error ?? ""}`;
  if (c.uncertain) return `Uncertain: ${c.uncertain}`;
  return "";
}
