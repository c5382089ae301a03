/** Entry point: /rooms/{slug} and /join/{invite code} land in the lobby, then the meeting. */
import { fetchConfig, tokenClaims } from "./api";
import { $ } from "./dom";
import { showLobby, type Target } from "./lobby";
import { startMeeting } from "./meeting";

function target(): Target {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const join = /^\/join\/([A-Za-z0-9_-]{8,64})\/?$/.exec(path);
  const room = /^\/rooms\/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\/?$/.exec(path);
  const slug = room?.[1] ?? "";
  // A reload of /rooms/{slug} in the same tab reuses the token this tab joined with.
  const stored = slug ? (sessionStorage.getItem(`parley.token.${slug}`) ?? "") : "";
  const token = hash.get("token") ?? params.get("token") ?? (join || params.get("invite") ? "" : stored);
  const claims = token ? tokenClaims(token) : null;
  return {
    room: room?.[1] ?? claims?.room ?? params.get("room") ?? "",
    invite: join?.[1] ?? params.get("invite") ?? "",
    token: claims ? token : "",
    name: claims?.name ?? "",
  };
}

async function main(): Promise<void> {
  const app = $("#app");
  try {
    const where = target();
    const config = await fetchConfig({ room: where.room, invite: where.invite });
    const choice = await showLobby(app, where, config);
    sessionStorage.setItem(`parley.token.${choice.token.room}`, choice.token.token);
    history.replaceState(null, "", `/rooms/${encodeURIComponent(choice.token.room)}`);
    await startMeeting(app, choice, config);
  } catch (err) {
    app.textContent = `Parley could not start: ${(err as Error).message}`;
  } finally {
    app.removeAttribute("aria-busy");
  }
}

void main();
