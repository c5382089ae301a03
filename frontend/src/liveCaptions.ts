/** The live caption lines under the tiles: partials replaced in place by their final (repainted
 * at most every PARTIAL_MIN_MS), the last LIVE_LINES on screen; the page's finals (which the
 * transcript panel shows) and, after a language switch, which earlier lines await translation. */
import { type Caption, listenerLang } from "./captions";
import { h } from "./dom";

const LIVE_LINES = 3; // captions on screen at once; older ones live in the transcript panel
const PARTIAL_MIN_MS = 300; // a partial line changes at most this often, so it stays readable

export class LiveCaptions {
  /** The finals this page has shown, by caption id. */
  readonly finals = new Map<string, Caption>();
  /** Earlier lines being translated after a language switch (shown in their original meanwhile). */
  readonly pending = new Set<string>();
  readonly #backfilled = new Set<string>(); // ids of every earlier final asked for in a new language
  readonly #els = new Map<string, HTMLElement>();
  readonly #lastPaint = new Map<string, number>();
  readonly #pendingPaint = new Map<string, number>();

  /** `changed`: the finals (or their pending marks) changed: the transcript panel re-renders. */
  constructor(
    private readonly live: HTMLElement,
    private readonly announce: HTMLElement,
    private readonly changed: () => void,
  ) {}

  caption(c: Caption, earlier: boolean): void {
    const had = this.finals.get(c.id);
    // An earlier line (or its translation) said before this page joined: not on it, nothing to turn.
    if (!had && (earlier || this.#backfilled.has(c.id))) return;
    if (c.type === "final" && had && (earlier || this.pending.has(c.id) || listenerLang(had) !== listenerLang(c))) {
      // An earlier line in the language just switched to: replace it where it is, no new line.
      this.finals.set(c.id, c);
      this.pending.delete(c.id);
      const el = this.#els.get(c.id);
      if (el) this.#paint(el, c);
      this.changed();
      return;
    }
    this.#showLive(c);
    if (c.type !== "final") return;
    const seen = this.finals.has(c.id);
    this.finals.set(c.id, c);
    if (!seen) this.announce.textContent = `${c.speaker_name}: ${c.text}`;
    this.changed();
  }

  /** A switch to `lang` took effect: the earlier lines in `pending` come again, translated. */
  langSwitched(lang: string, pending: string[]): void {
    for (const id of pending) {
      this.#backfilled.add(id);
      const c = this.finals.get(id);
      if (c && listenerLang(c) !== lang) this.pending.add(id); // lines this page shows, still in another language
    }
    for (const [id, el] of this.#els) {
      const c = this.finals.get(id);
      if (c && this.pending.has(id)) this.#paint(el, c);
    }
    this.changed();
  }

  retract(id: string): void {
    this.#els.get(id)?.remove();
    this.#els.delete(id);
    if (this.finals.delete(id)) this.changed();
  }

  #paint(el: HTMLElement, c: Caption): void {
    const pending = c.type === "final" && this.pending.has(c.id);
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
    this.#lastPaint.set(c.id, Date.now());
  }

  #showLive(c: Caption): void {
    let el = this.#els.get(c.id);
    if (el?.dataset.type === "final" && c.type === "partial") return; // a late partial never undoes a final
    if (!el) {
      el = h("p", { class: "cap", "data-id": c.id }, h("span", { class: "who" }), h("span", { class: "text" }), h("span", { class: "note" }), h("span", { class: "orig" }));
      this.#els.set(c.id, el);
      this.live.append(el);
      while (this.#els.size > LIVE_LINES) {
        const [oldId, oldEl] = this.#els.entries().next().value as [string, HTMLElement];
        oldEl.remove();
        this.#els.delete(oldId);
      }
    }
    clearTimeout(this.#pendingPaint.get(c.id));
    const wait = c.type === "partial" ? PARTIAL_MIN_MS - (Date.now() - (this.#lastPaint.get(c.id) ?? 0)) : 0;
    const target = el;
    if (wait > 0) this.#pendingPaint.set(c.id, window.setTimeout(() => this.#paint(target, c), wait));
    else this.#paint(el, c);
  }
}

/** A short mark after a caption that is not a plain one: the original in place of a translation
 * no engine can make, or text the decoder itself was unsure of. */
export function noteFor(c: Caption): string {
  if (c.for_lang) return `(not translated into ${c.for_lang})`;
  if (c.uncertain) return "(uncertain)";
  return "";
}

export function whyNote(c: Caption): string {
  if (c.for_lang) return `Not translated: ${c.error ?? ""}`;
  if (c.uncertain) return `Uncertain: ${c.uncertain}`;
  return "";
}
