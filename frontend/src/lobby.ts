/** The lobby: display name, caption language, microphone with a live level meter, camera with a
 * preview, join. */
import { joinByInvite, type JoinToken, type PageConfig } from "./api";
import { h, LevelMeter } from "./dom";
import { languageSelect, offers, SOURCE } from "./languages";

export interface Target {
  room: string;
  invite: string;
  token: string;
  name: string;
}

export interface Choice {
  token: JoinToken;
  lang: string;
  mic: MediaStreamTrack | null;
  camera: MediaStreamTrack | null; // on at join, or null
  cameraId: string; // the chosen camera ("" = none chosen: the default one if turned on later)
}

const AUDIO: MediaTrackConstraints = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
const STORE = "parley.lobby";
export const VIDEO: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

/** Opens a camera (the default one for ""). */
export async function openCamera(deviceId: string): Promise<MediaStreamTrack> {
  const video = deviceId ? { ...VIDEO, deviceId: { exact: deviceId } } : VIDEO;
  const track = (await navigator.mediaDevices.getUserMedia({ video })).getVideoTracks()[0];
  if (!track) throw new Error("the camera gave no video");
  return track;
}

export function showLobby(app: HTMLElement, target: Target, config: PageConfig): Promise<Choice> {
  const saved = JSON.parse(localStorage.getItem(STORE) ?? "{}") as { name?: string; lang?: string; camera?: string };
  const lang = languageSelect(config, { id: "lang", "data-testid": "lobby-lang" });
  lang.value = saved.lang && offers(lang, saved.lang) ? saved.lang : SOURCE;
  const name = h("input", { id: "name", "data-testid": "lobby-name", maxlength: "200", autocomplete: "name" });
  name.value = target.name || saved.name || "";
  if (target.token) name.readOnly = true; // the name is in the token
  const mic = h("select", { id: "mic", "data-testid": "lobby-mic" }, h("option", { value: "" }, "No microphone (listen only)"));
  const cam = h("select", { id: "cam", "data-testid": "lobby-camera" }, h("option", { value: "" }, "Camera off"));
  const preview = h("video", { class: "preview", muted: "", playsinline: "", autoplay: "", "data-testid": "lobby-preview", hidden: "" });
  preview.muted = true;
  const bar = h("div");
  const join = h("button", { class: "primary", type: "submit", "data-testid": "join" }, "Join meeting");
  const error = h("p", { class: "error", role: "alert" });
  const canJoin = Boolean(target.token || target.invite);
  if (!canJoin) {
    join.disabled = true;
    error.textContent = "This link has no invitation: ask the host for an invite link.";
  }
  const form = h("form", { class: "lobby", "aria-labelledby": "lobby-title" },
    h("h1", { id: "lobby-title" }, "Join the meeting"),
    h("p", { class: "room", "data-testid": "lobby-room" }, target.room ? `Room ${target.room}` : "Room from your invitation"),
    h("label", { for: "name" }, "Your name"), name,
    h("label", { for: "lang" }, "Captions in"), lang,
    h("label", { for: "mic" }, "Microphone"), mic,
    h("div", { class: "meter", role: "meter", "aria-label": "Microphone level", "data-testid": "meter" }, bar),
    h("label", { for: "cam" }, "Camera"), cam, preview,
    h("div", { class: "actions" }, join), error);
  app.replaceChildren(form);

  let track: MediaStreamTrack | null = null;
  let meter: LevelMeter | null = null;
  let raf = 0;
  const tick = () => {
    const v = meter ? meter.level() : 0;
    bar.style.width = `${Math.round(v * 100)}%`;
    bar.parentElement!.setAttribute("aria-valuenow", String(Math.round(v * 100)));
    raf = requestAnimationFrame(tick);
  };
  const openMic = async (deviceId: string) => {
    meter?.close();
    track?.stop();
    track = null;
    meter = null;
    if (!deviceId) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { ...AUDIO, deviceId: { exact: deviceId } } });
    track = stream.getAudioTracks()[0] ?? null;
    if (track) meter = new LevelMeter(track);
  };
  let micChosen = false; // the person picked a microphone (or none) themselves
  const listMics = async () => {
    try {
      const first = await navigator.mediaDevices.getUserMedia({ audio: AUDIO }); // asks permission, reveals labels
      const firstId = first.getAudioTracks()[0]?.getSettings().deviceId ?? "";
      first.getTracks().forEach((t) => t.stop());
      const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
      devices.forEach((d, i) => mic.append(h("option", { value: d.deviceId }, d.label || `Microphone ${i + 1}`)));
      if (micChosen) return; // "listen only" picked while the list loaded: keep it
      mic.value = devices.some((d) => d.deviceId === firstId) ? firstId : (devices[0]?.deviceId ?? "");
      await openMic(mic.value);
    } catch (err) {
      error.textContent = `No microphone: ${(err as Error).message}. You can still listen and read captions.`;
    }
  };
  let video: MediaStreamTrack | null = null;
  const openPreview = async (deviceId: string) => {
    video?.stop();
    video = null;
    preview.srcObject = null;
    preview.hidden = !deviceId;
    if (!deviceId) return;
    video = await openCamera(deviceId);
    preview.srcObject = new MediaStream([video]);
    void preview.play().catch(() => {});
  };
  const listCameras = async () => {
    // Labels and ids show once the page may use a device; the mic prompt above grants that.
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput" && d.deviceId);
    devices.forEach((d, i) => cam.append(h("option", { value: d.deviceId }, d.label || `Camera ${i + 1}`)));
    if (saved.camera && devices.some((d) => d.deviceId === saved.camera)) {
      cam.value = saved.camera;
      await openPreview(cam.value);
    }
  };
  cam.addEventListener("change", () => void openPreview(cam.value).catch((e: Error) => (error.textContent = `Camera: ${e.message}`)));
  mic.addEventListener("change", () => {
    micChosen = true;
    openMic(mic.value).catch((e: Error) => (error.textContent = e.message));
  });
  void listMics().then(listCameras).catch((e: Error) => (error.textContent = `Camera: ${e.message}`));
  tick();
  name.focus();

  return new Promise((resolve) => {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const who = name.value.trim();
      if (!who) {
        error.textContent = "Please enter your name.";
        name.focus();
        return;
      }
      join.disabled = true;
      error.textContent = "";
      localStorage.setItem(STORE, JSON.stringify({ name: who, lang: lang.value, camera: cam.value }));
      const get = target.token
        ? Promise.resolve(tokenFromUrl(target))
        : joinByInvite(target.invite, who, lang.value);
      get.then(
        (token) => {
          cancelAnimationFrame(raf);
          meter?.close();
          preview.srcObject = null;
          resolve({ token, lang: lang.value, mic: track, camera: video, cameraId: cam.value });
        },
        (err: Error) => {
          join.disabled = false;
          error.textContent = `Could not join: ${err.message}`;
        },
      );
    });
  });
}

function tokenFromUrl(t: Target): JoinToken {
  return { token: t.token, room: t.room, participant_id: "", name: t.name, role: "guest" };
}

