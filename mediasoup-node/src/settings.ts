import { isIP } from 'node:net';
import os from 'node:os';

import type { Role } from './token.js';
import { parseTurnUrls, type TurnSettings } from './turn.js';

/** Join tokens signed with this secret are forgeable by anyone who reads the repo. */
export const DEV_JOIN_TOKEN_SECRET = 'dev-secret-change-me';

export type Settings = Readonly<{
	env: string;
	listenIp: string;
	announcedAddress: string | undefined;
	/**
	 * WebRTC media: worker i listens on UDP and TCP port webRtcPort + i (one mediasoup
	 * WebRtcServer per worker; every WebRTC transport shares it). 0: a free port from the
	 * plain range (tests).
	 */
	webRtcPort: number;
	/** Plain RTP transports (the gateway forwarder, plain ingest): one port each, internal. */
	rtcMinPort: number;
	rtcMaxPort: number;
	/** A WebRTC transport not connected (ICE + DTLS) this long after it was made is closed. */
	transportConnectTimeoutMs: number;
	maxTransportsPerPeer: number;
	maxProducersPerPeer: number;
	maxConsumersPerPeer: number;
	/** Audio producers per peer: each one is a separate speaker stream for speech-to-text. */
	maxAudioProducersPerPeer: number;
	/** Entries in an rtpCapabilities / rtpParameters list (codecs, headerExtensions), and encodings. */
	maxRtpListEntries: number;
	maxEncodings: number;
	wsHost: string;
	wsPort: number;
	wsPath: string;
	numWorkers: number;
	gatewayRtpHost: string;
	gatewayRtpPort: number;
	/** Where audio goes (parley-ingest): INGEST_RTP_TARGETS, else GATEWAY_RTP_HOST:GATEWAY_RTP_PORT. */
	ingestTargets: ReadonlyArray<Readonly<{ host: string; port: number }>>;
	/** How often ingest host names are looked up again (a restarted task's new address). */
	ingestResolveMs: number;
	redisUrl: string;
	joinTokenSecret: string;
	workerBin: string | undefined;
	/** Lets a peer send RTP over a PlainTransport (bots, ffmpeg, the load generator). Off by default. */
	allowPlainIngest: boolean;
	/** Token roles that may use plain ingest (never `listener`). */
	plainIngestRoles: ReadonlyArray<Role>;
	logLevel: 'debug' | 'info' | 'warn' | 'error';
	/** TURN servers handed to every participant at `join` (with its own credentials); none if unset. */
	turn: TurnSettings | undefined;
	/** `relay` makes clients use TURN only (the `iceTransportPolicy` they get at `join`). */
	iceTransportPolicy: 'all' | 'relay';
	/** Peers in one room when its `room:{slug}` hash sets no `max_participants`. */
	maxPeersPerRoom: number;
	/** Signalling sockets: in all, per client address, and not yet joined (in all / per address). */
	maxSockets: number;
	maxSocketsPerAddress: number;
	maxUnjoinedSockets: number;
	maxUnjoinedPerAddress: number;
	/** A socket that has not joined this long after it opened is closed (4408). */
	joinTimeoutMs: number;
	/** Proxies (IPs, CIDRs, host names) whose X-Forwarded-For names the client; nobody else's is read. */
	trustedProxies: ReadonlyArray<string>;
	/** Largest message accepted (a larger one closes the socket, 1009). */
	maxMessageBytes: number;
	/** Requests per socket: sustained rate and burst (over it the socket is closed, 1008). */
	requestsPerS: number;
	requestBurst: number;
	/** Requests waiting on one socket before it is closed as a flood (1008). */
	maxQueuedRequests: number;
	/** produce / pause / resume / close of producers per peer (each one is an sfu:events entry): rate per minute and burst. */
	producerOpsPerMin: number;
	producerOpsBurst: number;
}>;

type Env = Readonly<Record<string, string | undefined>>;

export class SettingsError extends Error {
	override name = 'SettingsError';
}

function str(env: Env, name: string, fallback: string): string {
	const v = env[name];
	return v === undefined || v === '' ? fallback : v;
}

function optional(env: Env, name: string): string | undefined {
	const v = env[name];
	return v === undefined || v === '' ? undefined : v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
	const raw = env[name];
	if (raw === undefined || raw === '') return fallback;
	const n = Number(raw);
	if (!Number.isInteger(n) || n < min || n > max) {
		throw new SettingsError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
	}
	return n;
}

function bool(env: Env, name: string): boolean {
	return ['1', 'true', 'yes', 'on'].includes((env[name] ?? '').toLowerCase());
}

/** Reads every setting from the environment once; throws SettingsError on bad values. */
export function loadSettings(env: Env = process.env): Settings {
	const settings: Settings = {
		env: str(env, 'PARLEY_ENV', 'development'),
		listenIp: str(env, 'SFU_LISTEN_IP', '127.0.0.1'),
		announcedAddress: optional(env, 'SFU_ANNOUNCED_ADDRESS'),
		webRtcPort: int(env, 'SFU_WEBRTC_PORT', 40000, 0, 65535),
		rtcMinPort: int(env, 'SFU_RTC_MIN_PORT', 40100, 1024, 65535),
		rtcMaxPort: int(env, 'SFU_RTC_MAX_PORT', 40999, 1024, 65535),
		transportConnectTimeoutMs: int(env, 'SFU_TRANSPORT_CONNECT_TIMEOUT_MS', 20_000, 100, 600_000),
		maxTransportsPerPeer: int(env, 'SFU_MAX_TRANSPORTS_PER_PEER', 4, 1, 64),
		maxProducersPerPeer: int(env, 'SFU_MAX_PRODUCERS_PER_PEER', 4, 1, 64),
		maxConsumersPerPeer: int(env, 'SFU_MAX_CONSUMERS_PER_PEER', 256, 1, 10_000),
		maxAudioProducersPerPeer: int(env, 'SFU_MAX_AUDIO_PRODUCERS_PER_PEER', 1, 1, 64),
		maxRtpListEntries: int(env, 'SFU_MAX_RTP_LIST_ENTRIES', 32, 1, 1000),
		maxEncodings: int(env, 'SFU_MAX_ENCODINGS', 4, 1, 64),
		wsHost: str(env, 'SFU_WS_HOST', '127.0.0.1'),
		wsPort: int(env, 'SFU_WS_PORT', 4443, 0, 65535),
		wsPath: '/ws',
		numWorkers: int(env, 'SFU_NUM_WORKERS', os.availableParallelism(), 1, 256),
		gatewayRtpHost: str(env, 'GATEWAY_RTP_HOST', '127.0.0.1'),
		gatewayRtpPort: int(env, 'GATEWAY_RTP_PORT', 5004, 1, 65535),
		ingestTargets: parseTargets(env),
		ingestResolveMs: int(env, 'INGEST_RESOLVE_MS', 2000, 0, 600_000),
		redisUrl: str(env, 'REDIS_URL', 'redis://127.0.0.1:6379/0'),
		joinTokenSecret: str(env, 'JOIN_TOKEN_SECRET', DEV_JOIN_TOKEN_SECRET),
		workerBin: optional(env, 'MEDIASOUP_WORKER_BIN'),
		allowPlainIngest: bool(env, 'SFU_ALLOW_PLAIN_INGEST'),
		plainIngestRoles: parseIngestRoles(str(env, 'SFU_PLAIN_INGEST_ROLES', 'host')),
		logLevel: parseLogLevel(str(env, 'SFU_LOG_LEVEL', 'info')),
		turn: parseTurn(env),
		iceTransportPolicy: parsePolicy(str(env, 'SFU_ICE_TRANSPORT_POLICY', 'all')),
		maxPeersPerRoom: int(env, 'SFU_MAX_PEERS_PER_ROOM', 100, 1, 100_000),
		maxSockets: int(env, 'SFU_MAX_SOCKETS', 5000, 1, 1_000_000),
		maxSocketsPerAddress: int(env, 'SFU_MAX_SOCKETS_PER_ADDRESS', 50, 1, 1_000_000),
		maxUnjoinedSockets: int(env, 'SFU_MAX_UNJOINED_SOCKETS', 500, 1, 1_000_000),
		maxUnjoinedPerAddress: int(env, 'SFU_MAX_UNJOINED_PER_ADDRESS', 10, 1, 1_000_000),
		joinTimeoutMs: int(env, 'SFU_JOIN_TIMEOUT_MS', 5000, 100, 600_000),
		trustedProxies: parseProxies(str(env, 'SFU_TRUSTED_PROXIES', '')),
		maxMessageBytes: int(env, 'SFU_MAX_MESSAGE_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
		requestsPerS: int(env, 'SFU_REQUESTS_PER_S', 50, 1, 100_000),
		requestBurst: int(env, 'SFU_REQUEST_BURST', 200, 1, 100_000),
		maxQueuedRequests: int(env, 'SFU_MAX_QUEUED_REQUESTS', 64, 1, 100_000),
		producerOpsPerMin: int(env, 'SFU_PRODUCER_OPS_PER_MIN', 120, 1, 1_000_000),
		producerOpsBurst: int(env, 'SFU_PRODUCER_OPS_BURST', 20, 1, 100_000),
	};
	if (settings.iceTransportPolicy === 'relay' && settings.turn === undefined) {
		throw new SettingsError('SFU_ICE_TRANSPORT_POLICY=relay needs TURN servers (TURN_URLS and TURN_SECRET)');
	}
	if (settings.rtcMinPort > settings.rtcMaxPort) {
		throw new SettingsError('SFU_RTC_MIN_PORT must not be above SFU_RTC_MAX_PORT');
	}
	const lastWebRtcPort = settings.webRtcPort + settings.numWorkers - 1;
	if (settings.webRtcPort !== 0 && lastWebRtcPort > 65535) {
		throw new SettingsError('SFU_WEBRTC_PORT + SFU_NUM_WORKERS - 1 must be a port number');
	}
	if (settings.webRtcPort !== 0 && settings.webRtcPort <= settings.rtcMaxPort && lastWebRtcPort >= settings.rtcMinPort) {
		throw new SettingsError(
			`SFU_WEBRTC_PORT..+SFU_NUM_WORKERS-1 (${settings.webRtcPort}-${lastWebRtcPort}) overlaps SFU_RTC_MIN_PORT..SFU_RTC_MAX_PORT`,
		);
	}
	checkSecret(settings.env, 'JOIN_TOKEN_SECRET', settings.joinTokenSecret);
	if (settings.turn !== undefined) checkSecret(settings.env, 'TURN_SECRET', settings.turn.secret);
	return settings;
}

/** Shortest secret accepted outside development (the gateway applies the same rule). */
export const MIN_SECRET_CHARS = 32;

/**
 * One rule for secrets on both sides (gateway and SFU): outside PARLEY_ENV=development an empty
 * secret, the development placeholder, or one shorter than 32 characters is refused. Any other
 * PARLEY_ENV value (production, staging, a typo) counts as "not development".
 */
export function checkSecret(env: string, name: string, value: string): void {
	if (env === 'development') return;
	if (value === '' || value === DEV_JOIN_TOKEN_SECRET) {
		throw new SettingsError(`${name} is empty or the development placeholder; set a real secret (PARLEY_ENV=${env})`);
	}
	if (value.length < MIN_SECRET_CHARS) {
		throw new SettingsError(`${name} must be at least ${MIN_SECRET_CHARS} characters (PARLEY_ENV=${env})`);
	}
}

/** `host:port,host:port` (at most 8; IPv6 as `[::1]:5004`); default GATEWAY_RTP_HOST:GATEWAY_RTP_PORT. */
function parseTargets(env: Env): Settings['ingestTargets'] {
	const raw = optional(env, 'INGEST_RTP_TARGETS');
	if (raw === undefined) {
		return [{ host: str(env, 'GATEWAY_RTP_HOST', '127.0.0.1'), port: int(env, 'GATEWAY_RTP_PORT', 5004, 1, 65535) }];
	}
	const targets = raw
		.split(',')
		.map((t) => t.trim())
		.filter((t) => t !== '')
		.map((t) => {
			const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(t);
			const port = Number(m?.[3]);
			if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
				throw new SettingsError(`INGEST_RTP_TARGETS: "${t}" is not host:port`);
			}
			return { host: (m[1] ?? m[2]) as string, port };
		});
	if (targets.length === 0 || targets.length > 8) {
		throw new SettingsError(`INGEST_RTP_TARGETS must name 1 to 8 host:port targets, got "${raw}"`);
	}
	return targets;
}

function parseTurn(env: Env): TurnSettings | undefined {
	const raw = optional(env, 'TURN_URLS');
	if (raw === undefined) return undefined;
	let urls: string[];
	try {
		urls = parseTurnUrls(raw);
	} catch (error) {
		throw new SettingsError(`TURN_URLS: ${(error as Error).message}`);
	}
	if (urls.length === 0) return undefined;
	const secret = optional(env, 'TURN_SECRET');
	if (secret === undefined) throw new SettingsError('TURN_URLS is set but TURN_SECRET (coturn static-auth-secret) is not');
	return { urls, secret, ttlS: int(env, 'TURN_CREDENTIAL_TTL_S', 3600, 60, 86_400) };
}

function parseIngestRoles(raw: string): Role[] {
	const roles = raw.split(',').map((r) => r.trim()).filter((r) => r !== '');
	for (const r of roles) {
		if (r !== 'host' && r !== 'guest') throw new SettingsError(`SFU_PLAIN_INGEST_ROLES: "${r}" is not host or guest`);
	}
	return roles as Role[];
}

/** Comma-separated IPs, CIDRs (a.b.c.d/n, ipv6/n) and host names. */
function parseProxies(raw: string): string[] {
	const entries = raw
		.split(',')
		.map((e) => e.trim())
		.filter((e) => e !== '');
	for (const e of entries) {
		const [net, bits, extra] = e.split('/');
		const family = isIP(net ?? '');
		const maxBits = family === 6 ? 128 : 32;
		const okCidr = bits === undefined || (family !== 0 && /^\d+$/.test(bits) && Number(bits) <= maxBits);
		const okName = family !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(net ?? '');
		if (extra !== undefined || !okCidr || !okName) {
			throw new SettingsError(`SFU_TRUSTED_PROXIES: "${e}" is not an IP address, CIDR range or host name`);
		}
	}
	return entries;
}

function parsePolicy(v: string): Settings['iceTransportPolicy'] {
	if (v === 'all' || v === 'relay') return v;
	throw new SettingsError(`SFU_ICE_TRANSPORT_POLICY must be all|relay, got "${v}"`);
}

function parseLogLevel(v: string): Settings['logLevel'] {
	if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
	throw new SettingsError(`SFU_LOG_LEVEL must be debug|info|warn|error, got "${v}"`);
}
