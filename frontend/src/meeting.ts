/** The meeting: tiles (video or avatar), mute, camera, leave, live captions, the transcript panel,
 * connection state. startMeeting lays the page out and wires its parts: the tiles (tiles.ts),
 * the media session with its mute and camera controls (startMedia), the caption socket with the
 * live lines and the language picker (startCaptions, liveCaptions.ts), the transcript panel
 * (transcriptPanel.ts) and the status pill (connectionStatus.ts). */
import type { PageConfig } from "./api";
import { CaptionSocket } from "./captions";
import { ConnectionStatus } from "./connectionStatus";
import { h } from "./dom";
import { applyOffer, languageSelect } from "./languages";
import { LiveCaptions } from "./liveCaptions";
import { type Choice, openCamera } from "./lobby";
import { SfuSession } from "./sfu";
import { Tiles } from "./tiles";
import { TranscriptPanel } from "./transcriptPanel";

/** The page's elements, made once by layout(). */
interface View {
  langSel: HTMLSelectElement;
  langNote: HTMLElement;
  original: HTMLInputElement;
  muteBtn: HTMLButtonElement;
  camBtn: HTMLButtonElement;
  leaveBtn: HTMLButtonElement;
  status: HTMLElement;
  tiles: HTMLElement;
  live: HTMLElement;
  announce: HTMLElement;
  search: HTMLInputElement;
  list: HTMLElement;
  downloads: { txt: HTMLElement; srt: HTMLElement; vtt: HTMLElement };
  audio: HTMLElement;
}

export async function startMeeting(app: HTMLElement, choice: Choice, config: PageConfig): Promise<void> {
  const view = layout(app, choice, config);
  const status = new ConnectionStatus(view.status);
  const media = startMedia(view, choice, config, status);
  const captions = startCaptions(view, choice, status);
  view.leaveBtn.addEventListener("click", () => {
    media.leave();
    captions.close();
    media.stopTracks();
    view.leaveBtn.disabled = view.muteBtn.disabled = view.camBtn.disabled = true;
  });
  captions.open();
  await media.open();
}

function layout(app: HTMLElement, choice: Choice, config: PageConfig): View {
  const { token } = choice;
  const langSel = languageSelect(config, { "data-testid": "lang", "aria-label": "Captions in" });
  langSel.value = choice.lang;
  const dl = (fmt: string) => h("button", { "data-testid": `download-${fmt}` }, `.${fmt}`);
  const v: View = {
    langSel,
    langNote: h("span", { class: "lang-note", role: "status", "data-testid": "lang-note" }),
    original: h("input", { type: "checkbox", "data-testid": "show-original" }),
    muteBtn: h("button", { "data-testid": "mute", "aria-pressed": "false" }, "Mute"),
    camBtn: h("button", { "data-testid": "camera", "aria-pressed": "false" }, "Start camera"),
    leaveBtn: h("button", { class: "danger", "data-testid": "leave" }, "Leave"),
    status: h("span", { class: "status", role: "status", "data-testid": "status", "data-state": "connecting" }, "Connecting…"),
    tiles: h("section", { class: "tiles", "aria-label": "Participants", "data-testid": "tiles" }),
    live: h("div", { class: "captions", "data-testid": "captions", "aria-hidden": "true" }),
    announce: h("div", { class: "sr-only", "aria-live": "polite", "data-testid": "announce" }),
    search: h("input", { type: "search", placeholder: "Search the transcript", "aria-label": "Search the transcript", "data-testid": "search" }),
    list: h("ol", { class: "transcript", "data-testid": "transcript", "aria-label": "Transcript" }),
    downloads: { txt: dl("txt"), srt: dl("srt"), vtt: dl("vtt") },
    audio: h("div", { hidden: "" }),
  };
  v.muteBtn.disabled = !choice.mic;
  v.camBtn.disabled = token.role === "listener";
  app.replaceChildren(h("div", { class: "meeting" },
    h("div", { class: "bar" },
      h("h1", {}, `Room ${token.room}`), v.status, h("span", { class: "spacer" }),
      h("label", {}, "Captions in ", v.langSel), v.langNote,
      h("label", {}, v.original, " Show original"),
      v.muteBtn, v.camBtn, v.leaveBtn),
    h("div", { class: "stage" }, v.tiles, v.live, v.announce),
    h("aside", { class: "side", "aria-label": "Transcript panel" },
      h("header", {}, h("h2", {}, "Transcript"), v.search, h("div", { class: "downloads" }, "Download ", v.downloads.txt, v.downloads.srt, v.downloads.vtt)),
      v.list),
    v.audio));
  return v;
}

/** The SFU session, the tiles it fills, and the mute and camera buttons. */
function startMedia(view: View, choice: Choice, config: PageConfig, status: ConnectionStatus): { open(): Promise<void>; leave(): void; stopTracks(): void } {
  const { token } = choice;
  const listener = token.role === "listener";
  const tiles = new Tiles(view.tiles, view.audio, token.participant_id);
  let camera: MediaStreamTrack | null = listener ? null : choice.camera;
  if (listener) choice.camera?.stop();
  let muted = false;
  const renderMute = () => {
    view.muteBtn.textContent = muted ? "Unmute" : "Mute";
    view.muteBtn.setAttribute("aria-pressed", String(muted));
    tiles.setMuted(tiles.selfId, muted);
  };
  const sfu = new SfuSession(config.sfu_url, token.room, token.token, choice.mic, {
    state: (s, d) => status.set("media", s, d),
    joined: (self, peers) => {
      tiles.reset(self, peers);
      tiles.setVideo(self.id, camera);
    },
    peerJoined: (p) => void tiles.add(p),
    peerLeft: (id) => tiles.remove(id),
    track: (peerId, kind, track) => (kind === "video" ? tiles.setVideo(peerId, track) : tiles.setAudio(peerId, track)),
    levels: (ids) => tiles.heard(ids),
    peerMuted: (id, m) => tiles.setMuted(id, m),
    mutedByHost: () => {
      muted = true;
      renderMute();
    },
  }, camera);

  // Camera: on produces a video track, off closes it (and stops the camera).
  const camBtn = view.camBtn;
  const renderCamera = () => {
    camBtn.textContent = camera ? "Stop camera" : "Start camera";
    camBtn.setAttribute("aria-pressed", String(Boolean(camera)));
    tiles.setVideo(tiles.selfId, camera);
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

  view.muteBtn.addEventListener("click", () => {
    muted = !muted;
    renderMute();
    void sfu.setMuted(muted);
  });
  return {
    open: () => sfu.open(),
    leave: () => sfu.leave(),
    stopTracks: () => {
      choice.mic?.stop();
      camera?.stop();
    },
  };
}

/** The caption socket, its live lines and transcript panel, and the language picker. */
function startCaptions(view: View, choice: Choice, status: ConnectionStatus): CaptionSocket {
  const { token } = choice;
  let currentLang = choice.lang; // what the caption socket delivers now
  const live = new LiveCaptions(view.live, view.announce, () => transcript.render());
  const transcript = new TranscriptPanel(view.list, view.search, live);
  transcript.downloads(view.downloads, () => `parley-${token.room}-${view.langSel.value}`);
  const socket = new CaptionSocket(token.room, token.token, choice.lang, {
    caption: (c, _eventId, earlier) => live.caption(c, earlier),
    langSwitched: (lang, pending) => {
      currentLang = lang;
      view.langNote.textContent = "";
      live.langSwitched(lang, pending);
    },
    retract: (id) => live.retract(id),
    state: (s, d) => status.set("captions", s, d),
    offer: (langs) => {
      applyOffer(view.langSel, langs);
      view.langSel.value = currentLang;
    },
    refused: (message, fellBack) => {
      // A switch (or, on reconnect, the language itself) the room cannot deliver: say why, keep
      // (or fall back to) what the socket delivers.
      if (fellBack) currentLang = "source";
      view.langSel.value = currentLang;
      view.langNote.textContent = message;
    },
  });
  view.langSel.addEventListener("change", () => {
    live.pending.clear(); // the new switch's own pending list follows
    socket.setLang(view.langSel.value);
  });
  view.original.addEventListener("change", () => view.live.classList.toggle("show-original", view.original.checked));
  return socket;
}
