import { createHmac } from 'node:crypto';

/** One entry of RTCConfiguration.iceServers, as the browser (and mediasoup-client) takes it. */
export type IceServer = Readonly<{ urls: string[]; username: string; credential: string }>;

export type TurnSettings = Readonly<{
	urls: ReadonlyArray<string>;
	secret: string;
	ttlS: number;
}>;

/**
 * Time-limited TURN credentials for one participant, the "TURN REST API" scheme coturn checks
 * with `use-auth-secret` / `static-auth-secret` (stack/config/turnserver.conf): the username is
 * `<expiry, unix s>:<participant>`, the password base64(HMAC-SHA1(secret, username)). coturn
 * needs no per-user state, and a leaked pair stops working at its expiry.
 */
export function turnCredentials(turn: TurnSettings, participant: string, nowMs = Date.now()): IceServer {
	const username = `${Math.floor(nowMs / 1000) + turn.ttlS}:${participant}`;
	const credential = createHmac('sha1', turn.secret).update(username).digest('base64');
	return { urls: [...turn.urls], username, credential };
}

/** The `iceServers` for a participant (empty without TURN), and how long they stay valid (s; 0: always). */
export function iceServersFor(turn: TurnSettings | undefined, participant: string): { iceServers: IceServer[]; iceServersTtlS: number } {
	return turn ? { iceServers: [turnCredentials(turn, participant)], iceServersTtlS: turn.ttlS } : { iceServers: [], iceServersTtlS: 0 };
}

/** `turn:` / `turns:` URIs (RFC 7065), as the browser accepts them; throws a message otherwise. */
export function parseTurnUrls(raw: string): string[] {
	const urls = raw
		.split(',')
		.map((u) => u.trim())
		.filter((u) => u !== '');
	for (const u of urls) {
		if (!/^turns?:[^\s?:]+(:\d{1,5})?(\?transport=(udp|tcp))?$/.test(u)) {
			throw new Error(`"${u}" is not a TURN URI (turn:host[:port][?transport=udp|tcp] or turns:...)`);
		}
	}
	return urls;
}
