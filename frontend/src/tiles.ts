/** The participant tiles: one per peer (its video while the camera is on, else an avatar with the
 * name), a "speaking" ring from the SFU's audio levels, "muted" marks; and the peers' <audio>. */
import { h } from "./dom";
import type { Peer } from "./sfu";

const SPEAKING_MS = 900; // a tile stays "speaking" this long after the last level report

export class Tiles {
  readonly #els = new Map<string, HTMLElement>();
  readonly #spokeAt = new Map<string, number>();

  constructor(
    private readonly container: HTMLElement,
    private readonly audio: HTMLElement,
    public selfId: string,
  ) {
    setInterval(() => {
      const now = Date.now();
      for (const [id, el] of this.#els) el.classList.toggle("speaking", now - (this.#spokeAt.get(id) ?? 0) < SPEAKING_MS);
    }, 150);
  }

  /** The tiles of a (re)joined session: ours first, then everyone already there. */
  reset(self: Peer, peers: Peer[]): void {
    this.selfId = self.id;
    for (const el of this.#els.values()) el.remove();
    this.#els.clear();
    this.add(self, true);
    peers.forEach((p) => this.add(p));
  }

  add(p: Peer, self = false): HTMLElement {
    let el = this.#els.get(p.id);
    if (!el) {
      el = h("div", { class: "tile", "data-peer": p.id, "data-testid": "tile" },
        h("div", { class: "avatar", "aria-hidden": "true" }, (p.name.trim()[0] ?? "?").toUpperCase()),
        h("div", { class: "name" }, self ? `${p.name} (you)` : p.name),
        h("div", { class: "muted" }));
      this.#els.set(p.id, el);
      this.container.append(el);
    }
    return el;
  }

  remove(id: string): void {
    this.#els.get(id)?.remove();
    this.#els.delete(id);
    this.#audioOf(id)?.remove();
  }

  /** Its video while the camera is on, else the avatar (name and ring stay). */
  setVideo(id: string, track: MediaStreamTrack | null): void {
    const el = this.#els.get(id);
    el?.querySelector("video")?.remove();
    el?.classList.toggle("has-video", Boolean(track));
    if (!el || !track) return;
    const v = h("video", { autoplay: "", playsinline: "", muted: "", "data-testid": "video" });
    v.muted = true; // its sound plays through the <audio> element
    v.srcObject = new MediaStream([track]);
    if (id === this.selfId) v.classList.add("self");
    el.prepend(v);
    void v.play().catch(() => {});
  }

  setAudio(peerId: string, track: MediaStreamTrack | null): void {
    this.#audioOf(peerId)?.remove();
    if (!track) return;
    const el = h("audio", { autoplay: "", "data-peer": peerId });
    el.srcObject = new MediaStream([track]);
    this.audio.append(el);
    void el.play().catch(() => {});
  }

  setMuted(id: string, muted: boolean): void {
    const el = this.#els.get(id)?.querySelector(".muted");
    if (el) el.textContent = muted ? "muted" : "";
  }

  /** These peers were heard just now (the SFU's audio levels). */
  heard(ids: string[]): void {
    ids.forEach((id) => this.#spokeAt.set(id, Date.now()));
  }

  #audioOf(peerId: string): Element | null {
    return this.audio.querySelector(`[data-peer="${CSS.escape(peerId)}"]`);
  }
}
