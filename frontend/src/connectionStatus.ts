/** One status pill for both sockets (media, captions): connecting, reconnecting, live or closed. */
import type { ConnState } from "./captions";

export class ConnectionStatus {
  readonly #states: Record<string, { s: ConnState; d: string }> = {
    media: { s: "connecting", d: "" },
    captions: { s: "connecting", d: "" },
  };

  constructor(private readonly el: HTMLElement) {}

  set(which: "media" | "captions", s: ConnState, d: string): void {
    const status = this.el;
    this.#states[which] = { s, d };
    const all = Object.entries(this.#states);
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
  }
}
