/** The caption WebSocket (/ws/rooms/{room}/captions): reconnects with backoff and resumes with `since`. */
import { Backoff } from "./backoff";
import type { Caption, ClientMessage, ServerMessage } from "./contracts";

// The messages and the Caption come from the Python models (generated: ./contracts.ts).
export type { Caption } from "./contracts";

/** The language a listener of this event reads in (the original's for_lang, else its own). */
export function listenerLang(c: Caption): string {
  return c.for_lang || c.lang;
}

export type ConnState = "connecting" | "live" | "reconnecting" | "closed";

export interface CaptionEvents {
  /** `earlier`: an earlier final in the language just switched to (not a new line). */
  caption(c: Caption, eventId: string, earlier: boolean): void;
  /** The switch to `lang` took effect; `pending` earlier lines are being translated into it. */
  langSwitched(lang: string, pending: string[]): void;
  retract(id: string): void;
  state(s: ConnState, detail: string): void;
  /** The languages the room offers now (the socket's hello). */
  offer(languages: string[]): void;
  /** The server refused something (a language switch, a language on connect: then the socket
   * falls back to the spoken language and says so here). */
  refused(message: string, fellBack: boolean): void;
}

const PING_MS = 15_000;
const SILENT_MS = 40_000; // no message (not even a pong) for this long: the socket is dead
const LANG_REFUSED = /^captions in .* are not available in this room/;

export class CaptionSocket {
  #ws: WebSocket | null = null;
  #lastEventId = "";
  #closed = false;
  #backoff = new Backoff();
  #timer: number | undefined;
  #lastSeen = 0;
  #switchPending = false; // a switch made while disconnected: ask for the earlier lines on `hello`

  constructor(
    private readonly room: string,
    private readonly token: string,
    private lang: string,
    private readonly on: CaptionEvents,
  ) {}

  get lastEventId(): string {
    return this.#lastEventId;
  }

  open(): void {
    this.#connect("connecting");
  }

  setLang(lang: string): void {
    this.lang = lang;
    this.#switchPending = true;
    if (this.#ws?.readyState === WebSocket.OPEN) this.#sendLang();
    // Not open: the next connection asks for `lang` in its URL, and for the earlier lines on `hello`.
  }

  #sendLang(): void {
    this.#switchPending = false;
    this.#ws?.send(JSON.stringify({ type: "set_lang", lang: this.lang } satisfies ClientMessage));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#ws?.close(1000);
    this.on.state("closed", "");
  }

  #url(): string {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams({ lang: this.lang, token: this.token });
    if (this.#lastEventId) q.set("since", this.#lastEventId);
    return `${proto}//${location.host}/ws/rooms/${encodeURIComponent(this.room)}/captions?${q}`;
  }

  #connect(state: ConnState): void {
    if (this.#closed) return;
    this.on.state(state, state === "reconnecting" ? `attempt ${this.#backoff.attempt}` : "");
    const ws = new WebSocket(this.#url());
    this.#ws = ws;
    let fatal = "";
    ws.onmessage = (ev) => {
      this.#lastSeen = Date.now();
      const msg = JSON.parse(String(ev.data)) as ServerMessage;
      if (msg.type === "hello") {
        this.#backoff.reset();
        this.on.state("live", "");
        this.on.offer(msg.languages);
        if (this.#switchPending) this.#sendLang();
      } else if (msg.type === "caption") {
        const earlier = msg.earlier === true;
        if (!earlier) this.#lastEventId = msg.event_id; // an earlier line's id is old: keep the resume point
        this.on.caption(msg.caption, msg.event_id, earlier);
      } else if (msg.type === "lang") {
        this.on.langSwitched(msg.lang, msg.pending);
      } else if (msg.type === "retract") {
        this.#lastEventId = msg.event_id;
        this.on.retract(msg.id);
      } else if (msg.type === "error") {
        fatal = msg.error;
        if (ws.readyState === WebSocket.OPEN) this.on.refused(fatal, false);
      }
    };
    ws.onopen = () => {
      this.#lastSeen = Date.now();
      clearInterval(this.#timer);
      this.#timer = window.setInterval(() => {
        if (Date.now() - this.#lastSeen > SILENT_MS) ws.close(4000, "no answer");
        else if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" } satisfies ClientMessage));
      }, PING_MS);
    };
    ws.onclose = (ev) => {
      clearInterval(this.#timer);
      if (this.#closed || this.#ws !== ws) return;
      if (ev.code === 1008 && fatal.startsWith("unauthorized")) {
        this.on.state("closed", fatal);
        return;
      }
      if (ev.code === 1008 && LANG_REFUSED.test(fatal) && this.lang !== "source") {
        // The language is no longer on offer (an engine went away): the spoken language instead, said.
        this.lang = "source";
        this.#switchPending = false;
        this.on.refused(fatal, true);
        this.#connect("reconnecting");
        return;
      }
      const delay = this.#backoff.next();
      this.on.state("reconnecting", `retrying in ${(delay / 1000).toFixed(1)} s`);
      window.setTimeout(() => this.#connect("reconnecting"), delay);
    };
  }
}
