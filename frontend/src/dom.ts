/** Small DOM helpers. */
export function $(selector: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

export function download(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** An RMS level meter (0..1) on a microphone track, read with requestAnimationFrame. */
export class LevelMeter {
  #ctx: AudioContext;
  #analyser: AnalyserNode;
  #buf: Float32Array<ArrayBuffer>;

  constructor(track: MediaStreamTrack) {
    this.#ctx = new AudioContext();
    const src = this.#ctx.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = this.#ctx.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#buf = new Float32Array(this.#analyser.fftSize);
    src.connect(this.#analyser);
    void this.#ctx.resume();
  }

  level(): number {
    this.#analyser.getFloatTimeDomainData(this.#buf);
    let sum = 0;
    for (const v of this.#buf) sum += v * v;
    return Math.min(1, Math.sqrt(sum / this.#buf.length) * 4);
  }

  close(): void {
    void this.#ctx.close();
  }
}
