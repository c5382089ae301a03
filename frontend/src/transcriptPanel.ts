/** The transcript panel: the page's finals in meeting time, searchable (matches marked), earlier
 * lines awaiting translation marked, and downloads as .txt, .srt and .vtt. */
import { download, h } from "./dom";
import { type LiveCaptions, noteFor, whyNote } from "./liveCaptions";
import { type Line, toSrt, toTxt, toVtt } from "./transcript";

export class TranscriptPanel {
  constructor(
    private readonly list: HTMLElement,
    private readonly search: HTMLInputElement,
    private readonly captions: LiveCaptions,
  ) {
    search.addEventListener("input", () => this.render());
  }

  /** The download buttons; `base`: the file name without its extension. */
  downloads(buttons: { txt: HTMLElement; srt: HTMLElement; vtt: HTMLElement }, base: () => string): void {
    buttons.txt.addEventListener("click", () => download(`${base()}.txt`, toTxt(this.lines()), "text/plain"));
    buttons.srt.addEventListener("click", () => download(`${base()}.srt`, toSrt(this.lines()), "application/x-subrip"));
    buttons.vtt.addEventListener("click", () => download(`${base()}.vtt`, toVtt(this.lines()), "text/vtt"));
  }

  render(): void {
    const { finals, pending: pendingIds } = this.captions;
    const list = this.list;
    const q = this.search.value.trim().toLowerCase();
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
  }

  lines(): Line[] {
    return [...this.captions.finals.values()].map((c) => ({
      id: c.id, speaker: c.speaker_name || c.speaker, start: c.start, end: c.end, text: c.text, lang: c.lang,
    }));
  }
}
