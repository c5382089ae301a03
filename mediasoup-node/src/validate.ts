import { isIP } from 'node:net';

import { badRequest } from './errors.js';

/** Small readers for request `data`: each throws BAD_REQUEST naming the field. */
export type Data = Readonly<Record<string, unknown>>;

export function asData(value: unknown): Data {
	if (value === undefined) return {};
	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		throw badRequest('data must be an object');
	}
	return value as Data;
}

export function reqString(data: Data, field: string, maxLength = 256): string {
	const v = data[field];
	if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
		throw badRequest(`${field} must be a non-empty string`);
	}
	return v;
}

export function reqObject<T = Record<string, unknown>>(data: Data, field: string): T {
	const v = data[field];
	if (typeof v !== 'object' || v === null || Array.isArray(v)) {
		throw badRequest(`${field} must be an object`);
	}
	return v as T;
}

export function reqOneOf<T extends string>(data: Data, field: string, allowed: readonly T[]): T {
	const v = data[field];
	if (typeof v !== 'string' || !allowed.includes(v as T)) {
		throw badRequest(`${field} must be one of ${allowed.join(', ')}`);
	}
	return v as T;
}

export function reqPort(data: Data, field: string): number {
	const v = data[field];
	if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
		throw badRequest(`${field} must be a port number`);
	}
	return v;
}

export function reqIp(data: Data, field: string): string {
	const v = data[field];
	if (typeof v !== 'string' || isIP(v) === 0) throw badRequest(`${field} must be an IP address`);
	return v;
}

/** How long the lists in RTP capabilities and parameters may be (SFU_MAX_RTP_LIST_ENTRIES, SFU_MAX_ENCODINGS). */
export type RtpLimits = Readonly<{ maxRtpListEntries: number; maxEncodings: number }>;

function checkList(owner: Record<string, unknown>, where: string, field: string, max: number, required = false): void {
	const v = owner[field];
	if (v === undefined && !required) return;
	if (!Array.isArray(v)) throw badRequest(`${where}.${field} must be an array`);
	if (v.length > max) throw badRequest(`${where}.${field} has ${v.length} entries; at most ${max}`);
	if (!v.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))) {
		throw badRequest(`${where}.${field} must hold objects`);
	}
}

/** A device's rtpCapabilities (setRtpCapabilities, join): an object with short `codecs` / `headerExtensions` lists. */
export function rtpCapabilities(value: unknown, limits: RtpLimits): Record<string, unknown> {
	const caps = reqObject({ rtpCapabilities: value }, 'rtpCapabilities');
	checkList(caps, 'rtpCapabilities', 'codecs', limits.maxRtpListEntries);
	checkList(caps, 'rtpCapabilities', 'headerExtensions', limits.maxRtpListEntries);
	return caps;
}

/** A producer's rtpParameters: `codecs` (required), `headerExtensions`, `encodings` kept short. */
export function rtpParameters(value: unknown, limits: RtpLimits): Record<string, unknown> {
	const params = reqObject({ rtpParameters: value }, 'rtpParameters');
	checkList(params, 'rtpParameters', 'codecs', limits.maxRtpListEntries, true);
	checkList(params, 'rtpParameters', 'headerExtensions', limits.maxRtpListEntries);
	checkList(params, 'rtpParameters', 'encodings', limits.maxEncodings);
	return params;
}

export function optObject(data: Data, field: string): Record<string, unknown> | undefined {
	return data[field] === undefined ? undefined : reqObject(data, field);
}
