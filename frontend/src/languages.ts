/** The caption-language menu (lobby and meeting): "As spoken", the languages the room offers, and the
 * ones no engine can deliver there, shown but disabled with the reason, so nobody picks a language
 * and silently gets the original under its name. */
import type { PageConfig } from "./api";
import { h } from "./dom";

export const SOURCE = "source";

export function languageSelect(config: PageConfig, attrs: Record<string, string>): HTMLSelectElement {
  const sel = h("select", attrs,
    h("option", { value: SOURCE }, "As spoken"),
    ...config.languages.map((l) => h("option", { value: l.code }, l.name)));
  for (const u of config.unavailable) {
    sel.append(h("option", { value: u.code, disabled: "", title: u.why, "data-why": u.why }, `${u.name} (not available)`));
  }
  return sel;
}

/** The socket's `hello` names what the room offers now (engines come and go): disable the rest. */
export function applyOffer(sel: HTMLSelectElement, offered: string[]): void {
  for (const opt of sel.options) {
    const ok = opt.value === SOURCE || offered.includes(opt.value);
    opt.disabled = !ok;
    if (!ok && !opt.title) opt.title = "not available in this room now";
  }
}

export function offers(sel: HTMLSelectElement, code: string): boolean {
  return [...sel.options].some((o) => o.value === code && !o.disabled);
}
