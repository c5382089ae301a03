/** Transcript exports (.txt, .srt, .vtt) of final captions, in meeting time. */

export interface Line {
  id: string;
  speaker: string;
  start: number;
  end: number;
  text: string;
  lang: string;
}

function clock(seconds: number, sep: "," | "."): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/** Lines in time order, each cue at least 0.5 s long and starting after the previous one starts. */
function ordered(lines: Line[]): Line[] {
  const out = [...lines].sort((a, b) => a.start - b.start || a.end - b.end);
  let prev = -1;
  return out.map((l) => {
    const start = Math.max(l.start, prev + 0.001);
    prev = start;
    return { ...l, start, end: Math.max(l.end, start + 0.5) };
  });
}

export function toTxt(lines: Line[]): string {
  return ordered(lines)
    .map((l) => `[${clock(l.start, ".").slice(0, 8)}] ${l.speaker}: ${l.text}`)
    .join("\n")
    .concat("\n");
}

export function toSrt(lines: Line[]): string {
  return ordered(lines)
    .map((l, i) => `${i + 1}\n${clock(l.start, ",")} --> ${clock(l.end, ",")}\n${l.speaker}: ${l.text}\n`)
    .join("\n");
}

const vttEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function toVtt(lines: Line[]): string {
  const cues = ordered(lines).map(
    (l) => `${clock(l.start, ".")} --> ${clock(l.end, ".")}\n<v ${vttEscape(l.speaker)}>${vttEscape(l.text)}\n`,
  );
  return ["WEBVTT\n", ...cues].join("\n");
}
