/** The gateway's HTTP API, same origin: page config and join tokens (docs/api.md). */

export interface Language {
  code: string;
  name: string;
}

/** GET /api/config: the SFU's address and the caption languages on offer (the room's, when the
 * page knows its room or invite; else the deployment's), with the ones no engine delivers apart. */
export interface PageConfig {
  sfu_url: string;
  room: string | null;
  spoken: string[];
  languages: Language[];
  unavailable: (Language & { why: string })[];
}

export interface JoinToken {
  token: string;
  room: string;
  participant_id: string;
  name: string;
  role: string;
}

export async function fetchConfig(where: { room?: string; invite?: string } = {}): Promise<PageConfig> {
  const q = new URLSearchParams();
  if (where.room) q.set("room", where.room);
  else if (where.invite) q.set("invite", where.invite);
  const res = await fetch(`/api/config${q.size ? `?${q}` : ""}`);
  if (!res.ok) throw new Error(`config: HTTP ${res.status}`);
  const cfg = (await res.json()) as PageConfig;
  if (!cfg.sfu_url) {
    // Same origin: behind the TLS entry (stack/config/Caddyfile) /ws is the SFU's signalling socket.
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    cfg.sfu_url = `${proto}//${location.host}/ws`;
  }
  return cfg;
}

/** Opens an invite link: a guest token for the invite's room. */
export async function joinByInvite(code: string, name: string, captionLang: string): Promise<JoinToken> {
  const body: Record<string, string> = { name };
  if (captionLang !== "source") body.caption_lang = captionLang;
  const res = await fetch(`/api/v1/invites/${encodeURIComponent(code)}/join`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { message?: string } } & Partial<JoinToken>;
  if (!res.ok) throw new Error(data.error?.message ?? `invite: HTTP ${res.status}`);
  return data as JoinToken;
}

/** The claims of a join token (not verified here: the SFU and the gateway do that). */
export function tokenClaims(token: string): { room: string; sub: string; name: string; role: string } | null {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(decodeURIComponent(escape(json))) as Record<string, unknown>;
    if (typeof claims.room !== "string" || typeof claims.sub !== "string") return null;
    return {
      room: claims.room,
      sub: claims.sub,
      name: typeof claims.name === "string" ? claims.name : claims.sub,
      role: typeof claims.role === "string" ? claims.role : "guest",
    };
  } catch {
    return null;
  }
}
