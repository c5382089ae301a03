let ws = null, lastId = "", retry = 0;
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const lines = new Map();
const $ = (id) => document.getElementById(id);
function show(ev) {
  const c = ev.caption;
  let el = lines.get(c.id);
  if (!el) {
    el = document.createElement("div");
    el.innerHTML = '<span class="who"></span><span class="text"></span>';
    $("captions").append(el); lines.set(c.id, el);
  }
  el.className = "line " + c.type;
  el.querySelector(".who").textContent = c.speaker_name + ":";
  // The original in place of a translation no engine makes, or text the decoder was unsure of: say so.
  const note = c.for_lang ? " (not translated)" : c.uncertain ? " (uncertain)" : "";
  el.querySelector(".text").textContent = c.text + note;
  el.title = c.for_lang ? c.error : c.uncertain ? "uncertain: " + c.uncertain : c.source_text;
}
async function languages(room) {
  // The room's offer (GET /api/config): only what the engines deliver; the rest shown disabled, with why.
  const cfg = await (await fetch(`/api/config?room=${encodeURIComponent(room)}`)).json();
  for (const l of cfg.languages) $("lang").append(new Option(l.name, l.code));
  for (const u of cfg.unavailable) {
    const o = new Option(`${u.name} (not available)`, u.code);
    o.disabled = true; o.title = u.why; $("lang").append(o);
  }
}
function connect() {
  const room = $("room").value, lang = $("lang").value;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws/rooms/${encodeURIComponent(room)}/captions?lang=${lang}` +
    `&token=${encodeURIComponent(token)}` + (lastId ? `&since=${lastId}` : ""));
  ws.onopen = () => { retry = 0; $("status").textContent = "live"; };
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.event_id && !ev.earlier) lastId = ev.event_id;  // an earlier line (language switch) has an old id
    if (ev.type === "caption") show(ev);
    if (ev.type === "retract") { lines.get(ev.id)?.remove(); lines.delete(ev.id); }
    if (ev.type === "error") $("status").textContent = ev.error;
  };
  ws.onclose = () => {
    $("status").textContent = "reconnecting…";
    setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
  };
}
if (params.get("room")) $("room").value = params.get("room");
languages($("room").value).catch((e) => { $("status").textContent = "no languages: " + e.message; });
if (!token) $("status").textContent = "open the link make run printed (it carries a join token)";
$("join").onclick = () => { if (ws) { ws.onclose = null; ws.close(); } lastId = ""; lines.clear(); $("captions").textContent = ""; connect(); };
if (token) connect();
$("lang").onchange = () => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({type: "set_lang", lang: $("lang").value})); };
