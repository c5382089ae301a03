/** The SFU connection (docs/signalling.md): join, send the microphone and the camera, receive
 * others' audio and video; on a dropped socket it rejoins with backoff and sets everything up again. */
import { Device } from "mediasoup-client";
import type { types } from "mediasoup-client";
import { Backoff } from "./backoff";

export interface Peer {
  id: string;
  name: string;
  role: string;
}

export interface SfuEvents {
  state(s: "connecting" | "live" | "reconnecting" | "closed", detail: string): void;
  joined(self: Peer, peers: Peer[]): void;
  peerJoined(p: Peer): void;
  peerLeft(id: string): void;
  /** A remote track started (audio or video), or ended (`track` null: producer closed, peer left, rejoin). */
  track(peerId: string, kind: Kind, track: MediaStreamTrack | null): void;
  levels(peerIds: string[]): void;
  peerMuted(peerId: string, muted: boolean): void;
  mutedByHost(): void;
}

export type Kind = "audio" | "video";
type Remote = { consumer: types.Consumer; peerId: string; kind: Kind };

type Pending = { resolve: (d: Record<string, unknown>) => void; reject: (e: Error) => void };

/** A transport `disconnected` this long gets an ICE restart (at once when `failed`): its path went
 * away (the TURN server restarted, the network changed) and a new one may exist. */
const ICE_RESTART_AFTER_MS = 2000;
/** Still not connected this long after an ICE restart: the whole session starts again. */
const ICE_GIVE_UP_MS = 20000;

/** Close codes after which reconnecting would not help. */
const FINAL_CODES: Record<number, string> = {
  1000: "left",
  4401: "not authorised (token expired or invalid)",
  4403: "removed by the host",
  4409: "joined again from another window",
  4410: "the host closed the room",
};

class Signalling {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();
  onEvent: (name: string, data: Record<string, unknown>) => void = () => {};
  onClose: (code: number) => void = () => {};

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as Record<string, unknown>;
      if (typeof msg.event === "string") {
        this.onEvent(msg.event, (msg.data ?? {}) as Record<string, unknown>);
        return;
      }
      const p = this.#pending.get(msg.id as number);
      if (!p) return;
      this.#pending.delete(msg.id as number);
      if (msg.ok) p.resolve((msg.data ?? {}) as Record<string, unknown>);
      else {
        const err = msg.error as { code: string; message: string };
        p.reject(new Error(`${err.code}: ${err.message}`));
      }
    };
    ws.onclose = (ev) => {
      for (const p of this.#pending.values()) p.reject(new Error(`socket closed (${ev.code})`));
      this.#pending.clear();
      this.onClose(ev.code);
    };
  }

  static open(url: string): Promise<Signalling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Signalling(ws));
      ws.onerror = () => reject(new Error("signalling socket failed"));
    });
  }

  request(method: string, data: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, data }));
    });
  }

  close(code = 1000): void {
    this.#ws.close(code);
  }
}

export class SfuSession {
  #device: Device | null = null;
  #sig: Signalling | null = null;
  #send: types.Transport | null = null;
  #recv: types.Transport | null = null;
  #producer: types.Producer | null = null;
  #camera: MediaStreamTrack | null = null;
  #video: types.Producer | null = null;
  #canSend = false;
  #sendP: Promise<types.Transport> | null = null;
  #recvP: Promise<types.Transport> | null = null;
  #remotes = new Map<string, Remote>(); // consumer id -> whose track
  /** TURN servers and ICE policy from `join` (docs/signalling.md): for both transports. */
  #ice: { iceServers: RTCIceServer[]; iceTransportPolicy: RTCIceTransportPolicy } = {
    iceServers: [],
    iceTransportPolicy: "all",
  };
  #closed = false;
  #muted = false;
  /** Renews the TURN credentials before they expire (they last `iceServersTtlS` from join). */
  #iceRefresh: ReturnType<typeof setInterval> | null = null;
  /** Muted by a host: the SFU refuses to resume our audio until a host unmutes (`unmutedByHost`). */
  #hostMuted = false;
  #backoff = new Backoff();

  constructor(
    private readonly url: string,
    private readonly room: string,
    private readonly token: string,
    private readonly mic: MediaStreamTrack | null,
    private readonly on: SfuEvents,
    camera: MediaStreamTrack | null = null,
  ) {
    this.#camera = camera;
  }

  async open(): Promise<void> {
    this.on.state("connecting", "");
    await this.#connect();
  }

  async #connect(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#session();
        this.#backoff.reset();
        this.on.state("live", "");
        return;
      } catch (err) {
        this.#teardown();
        if (this.#closed) return;
        const delay = this.#backoff.next();
        this.on.state("reconnecting", `${(err as Error).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async #session(): Promise<void> {
    const sig = await Signalling.open(this.url);
    this.#sig = sig;
    let joinedOk = false;
    sig.onClose = (code) => {
      if (this.#closed) return;
      const final = FINAL_CODES[code];
      if (final && (joinedOk || code !== 1000)) {
        this.#closed = true;
        this.#teardown();
        this.on.state("closed", final);
        return;
      }
      if (this.#sig !== sig || !joinedOk) return; // a failed attempt: #connect retries it
      this.#teardown();
      this.on.state("reconnecting", `signalling closed (${code})`);
      void this.#connect();
    };
    sig.onEvent = (name, data) => this.#event(name, data);
    const joined = await sig.request("join", { room: this.room, token: this.token });
    joinedOk = true;
    this.#hostMuted = joined.hostMuted === true;
    const ttlS = Number(joined.iceServersTtlS ?? 0);
    if (ttlS > 0) this.#iceRefresh = setInterval(() => void this.#refreshIce(sig), Math.max(30, ttlS / 2) * 1000);
    this.#ice = {
      iceServers: (joined.iceServers as RTCIceServer[] | undefined) ?? [],
      iceTransportPolicy: joined.iceTransportPolicy === "relay" ? "relay" : "all",
    };
    if (!this.#device) {
      this.#device = new Device();
      await this.#device.load({
        routerRtpCapabilities: joined.routerRtpCapabilities as types.RtpCapabilities,
      });
    }
    const device = this.#device;
    await sig.request("setRtpCapabilities", { rtpCapabilities: device.rtpCapabilities });
    this.on.joined(
      { id: String(joined.peerId), name: String(joined.name), role: String(joined.role) },
      joined.peers as Peer[],
    );
    this.#canSend = joined.role !== "listener";
    if (this.mic && this.#canSend) {
      this.#producer = await (await this.#sendTransport()).produce({
        track: this.mic,
        stopTracks: false,
        codecOptions: { opusDtx: false, opusFec: true },
      });
      if (this.#muted) await this.setMuted(true);
    }
    if (this.#camera) await this.#produceCamera(this.#camera);
    for (const p of joined.producers as Record<string, unknown>[]) await this.#consume(p);
  }

  /** One send transport, made on first use (the camera may be turned on while it is being made). */
  #sendTransport(): Promise<types.Transport> {
    this.#sendP ??= this.#transport("send").then((t) => (this.#send = t));
    return this.#sendP;
  }

  /** One recv transport, made for the first consumer: the SFU closes a transport that does not
   * connect within its timeout, and a recv transport connects only when it first consumes. */
  #recvTransport(): Promise<types.Transport> {
    this.#recvP ??= this.#transport("recv").then((t) => (this.#recv = t));
    return this.#recvP;
  }

  async #produceCamera(track: MediaStreamTrack): Promise<void> {
    if (!this.#canSend || !this.#sig) return;
    this.#video = await (await this.#sendTransport()).produce({ track, stopTracks: false });
  }

  /** Camera on (a track) or off (null: the producer is closed, the others' tiles show the avatar). */
  async setCamera(track: MediaStreamTrack | null): Promise<void> {
    this.#camera = track;
    const old = this.#video;
    this.#video = null;
    if (old) {
      old.close();
      await this.#sig?.request("closeProducer", { producerId: old.id }).catch(() => {});
    }
    if (track) await this.#produceCamera(track);
  }

  async #transport(direction: "send" | "recv"): Promise<types.Transport> {
    const sig = this.#sig!;
    const t = await sig.request("createWebRtcTransport", { direction });
    const opts = {
      id: String(t.id),
      iceParameters: t.iceParameters as types.IceParameters,
      iceCandidates: t.iceCandidates as types.IceCandidate[],
      dtlsParameters: t.dtlsParameters as types.DtlsParameters,
      ...this.#ice,
    };
    const transport =
      direction === "send" ? this.#device!.createSendTransport(opts) : this.#device!.createRecvTransport(opts);
    transport.on("connect", ({ dtlsParameters }, ok, fail) => {
      sig.request("connectWebRtcTransport", { transportId: transport.id, dtlsParameters }).then(() => ok(), fail);
    });
    transport.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
      sig
        .request("produce", { transportId: transport.id, kind, rtpParameters, appData })
        .then((d) => ok({ id: String(d.producerId) }), fail);
    });
    this.#watchIce(transport, sig);
    return transport;
  }

  /** Brings a transport back by itself when its path breaks (a relay restart, a network change):
   * an ICE restart with fresh TURN servers and credentials, and if that does not connect within
   * ICE_GIVE_UP_MS, the whole session again. A participant who reaches the SFU only through TURN
   * over TLS on 443 thus comes back once the relay is back. */
  #watchIce(transport: types.Transport, sig: Signalling): void {
    let restartTimer: ReturnType<typeof setTimeout> | null = null;
    let giveUpTimer: ReturnType<typeof setTimeout> | null = null;
    const clear = (): void => {
      if (restartTimer) clearTimeout(restartTimer);
      if (giveUpTimer) clearTimeout(giveUpTimer);
      restartTimer = giveUpTimer = null;
    };
    const restart = (): void => {
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      if (this.#sig !== sig || transport.closed) return;
      console.warn(`ICE ${transport.connectionState} on the ${transport.direction} transport: restarting ICE`);
      void this.#restartIce(sig, [transport]);
      giveUpTimer ??= setTimeout(() => {
        giveUpTimer = null;
        if (this.#sig !== sig || transport.closed || transport.connectionState === "connected") return;
        this.#teardown();
        this.on.state("reconnecting", "media path lost");
        void this.#connect();
      }, ICE_GIVE_UP_MS);
    };
    transport.on("connectionstatechange", (state) => {
      if (this.#sig !== sig || state === "closed") return clear();
      if (state === "connected") return clear();
      if (state === "failed") restart();
      else if (state === "disconnected") restartTimer ??= setTimeout(restart, ICE_RESTART_AFTER_MS);
    });
  }

  async #consume(p: Record<string, unknown>): Promise<void> {
    const kind = p.kind;
    if ((kind !== "audio" && kind !== "video") || !this.#sig) return;
    const recv = await this.#recvTransport();
    if (!this.#sig) return;
    const c = await this.#sig.request("consume", { transportId: recv.id, producerId: p.producerId });
    const consumer = await recv.consume({
      id: String(c.consumerId),
      producerId: String(c.producerId),
      kind,
      rtpParameters: c.rtpParameters as types.RtpParameters,
    });
    const peerId = String(p.peerId);
    this.#remotes.set(consumer.id, { consumer, peerId, kind });
    await this.#sig.request("resumeConsumer", { consumerId: consumer.id });
    this.on.track(peerId, kind, consumer.track);
    if (kind === "audio") this.on.peerMuted(peerId, Boolean(c.producerPaused ?? p.paused));
  }

  /** The SFU closed a consumer (its producer closed: camera off, peer left). */
  #consumerClosed(consumerId: string): void {
    const r = this.#remotes.get(consumerId);
    if (!r) return;
    this.#remotes.delete(consumerId);
    r.consumer.close();
    this.on.track(r.peerId, r.kind, null);
  }

  #event(name: string, d: Record<string, unknown>): void {
    switch (name) {
      case "peerJoined":
        this.on.peerJoined({ id: String(d.id), name: String(d.name), role: String(d.role) });
        break;
      case "peerLeft":
        this.on.peerLeft(String(d.peerId));
        break;
      case "newProducer":
        this.on.peerJoined({ id: String(d.peerId), name: String(d.name), role: "guest" });
        this.#consume(d).catch((e: Error) => console.warn("consume failed", e));
        break;
      case "consumerClosed":
        this.#consumerClosed(String(d.consumerId));
        break;
      case "producerPaused":
      case "producerResumed":
        this.on.peerMuted(String(d.peerId), name === "producerPaused");
        break;
      case "audioLevels":
        this.on.levels((d.levels as { peerId: string }[]).map((l) => l.peerId));
        break;
      case "mutedByHost":
        this.#hostMuted = true;
        this.#muted = true;
        this.#producer?.pause();
        this.on.mutedByHost();
        break;
      case "unmutedByHost":
        this.#hostMuted = false;
        break;
      case "transportClosed":
        // One of ours failed to connect in time (or DTLS failed): start the session again.
        if (d.transportId === this.#send?.id || d.transportId === this.#recv?.id) {
          this.#teardown();
          this.on.state("reconnecting", `media transport closed (${String(d.reason)})`);
          void this.#connect();
        }
        break;
    }
  }

  async setMuted(muted: boolean): Promise<void> {
    if (!muted && this.#hostMuted) {
      this.on.mutedByHost(); // stays muted until a host unmutes
      return;
    }
    this.#muted = muted;
    const p = this.#producer;
    if (!p || !this.#sig) return;
    if (muted) {
      p.pause();
      await this.#sig.request("pauseProducer", { producerId: p.id });
    } else {
      p.resume();
      await this.#sig.request("resumeProducer", { producerId: p.id });
    }
  }

  /** New TURN credentials for both transports, then an ICE restart so the relays use them. */
  #refreshIce(sig: Signalling): Promise<void> {
    return this.#restartIce(sig, [this.#send, this.#recv]);
  }

  /** Fresh TURN servers and credentials, then an ICE restart of each transport given. */
  async #restartIce(sig: Signalling, transports: (types.Transport | null)[]): Promise<void> {
    if (this.#sig !== sig) return;
    try {
      const fresh = await sig.request("getIceServers");
      const iceServers = (fresh.iceServers as RTCIceServer[] | undefined) ?? [];
      this.#ice = { ...this.#ice, iceServers };
      for (const t of transports) {
        if (!t || t.closed) continue;
        await t.updateIceServers({ iceServers });
        const { iceParameters } = await sig.request("restartIce", { transportId: t.id });
        await t.restartIce({ iceParameters: iceParameters as types.IceParameters });
      }
    } catch (err) {
      console.warn("ICE restart failed", err);
    }
  }

  #teardown(): void {
    if (this.#iceRefresh) clearInterval(this.#iceRefresh);
    this.#iceRefresh = null;
    this.#producer?.close();
    this.#video?.close();
    this.#send?.close();
    this.#recv?.close();
    this.#producer = this.#video = this.#send = this.#recv = null;
    this.#sendP = this.#recvP = null;
    for (const id of [...this.#remotes.keys()]) this.#consumerClosed(id);
    const sig = this.#sig;
    this.#sig = null;
    sig?.close();
  }

  leave(): void {
    if (this.#closed) return;
    const sig = this.#sig;
    this.#closed = true;
    sig?.request("leave").catch(() => {});
    setTimeout(() => this.#teardown(), 200);
    this.on.state("closed", "left");
  }
}
