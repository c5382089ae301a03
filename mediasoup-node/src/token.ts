import { createHmac, timingSafeEqual } from 'node:crypto';

import { unauthorized } from './errors.js';

export type Role = 'host' | 'guest' | 'listener';
const ROLES: readonly Role[] = ['host', 'guest', 'listener'];

/** Claims of a join token (JWT, HS256, signed with JOIN_TOKEN_SECRET). */
export type JoinClaims = Readonly<{
	room: string;
	sub: string;
	name: string;
	role: Role;
	exp: number;
	iat: number;
}>;

/** Allowed clock difference between the issuer and the SFU, in seconds. */
export const CLOCK_SKEW_S = 30;
const MAX_TOKEN_LENGTH = 4096;
/** Room slugs and participant ids: the same rule as parley_common.schemas.NAME_RE. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const b64url = (buf: Buffer): string => buf.toString('base64url');

/** Signs claims as an HS256 JWT (the Python side issues real ones; used by tests and tools). */
export function signJoinToken(claims: JoinClaims, secret: string): string {
	const header = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
	const payload = b64url(Buffer.from(JSON.stringify(claims)));
	const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
	return `${header}.${payload}.${b64url(sig)}`;
}

/**
 * Verifies an HS256 JWT and returns its claims. Throws RequestError('UNAUTHORIZED') with a
 * message saying what is wrong (malformed, bad signature, expired, bad claims).
 */
export function verifyJoinToken(token: unknown, secret: string, nowS = Date.now() / 1000): JoinClaims {
	if (typeof token !== 'string' || token.length === 0) throw unauthorized('missing token');
	if (token.length > MAX_TOKEN_LENGTH) throw unauthorized('malformed token');
	const parts = token.split('.');
	if (parts.length !== 3) throw unauthorized('malformed token');
	const [h, p, s] = parts as [string, string, string];

	const header = parseJsonPart(h);
	if (header['alg'] !== 'HS256') throw unauthorized('token algorithm must be HS256');

	const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
	const given = Buffer.from(s, 'base64url');
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
		throw unauthorized('bad token signature');
	}

	const c = parseJsonPart(p);
	const { room, sub, name, role, exp, iat } = c;
	if (c['aud'] !== undefined) throw unauthorized('not a join token');
	if (typeof room !== 'string' || !NAME_RE.test(room)) throw unauthorized('token has no valid room claim');
	if (typeof sub !== 'string' || !NAME_RE.test(sub)) throw unauthorized('token has no valid sub claim');
	if (typeof name !== 'string' || name.length === 0 || name.length > 200) throw unauthorized('token has no valid name claim');
	if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
		throw unauthorized('token role must be host, guest or listener');
	}
	if (typeof exp !== 'number' || typeof iat !== 'number') throw unauthorized('token needs exp and iat');
	if (nowS > exp + CLOCK_SKEW_S) throw unauthorized('token expired');
	if (iat > nowS + CLOCK_SKEW_S) throw unauthorized('token issued in the future');
	return { room, sub, name, role: role as Role, exp, iat };
}

function parseJsonPart(part: string): Record<string, unknown> {
	let value: unknown;
	try {
		value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
	} catch {
		throw unauthorized('malformed token');
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		throw unauthorized('malformed token');
	}
	return value as Record<string, unknown>;
}
