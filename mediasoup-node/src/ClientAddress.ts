import { lookup } from 'node:dns/promises';
import type http from 'node:http';
import { BlockList, isIP } from 'node:net';

import { Logger } from './logger.js';

const log = new Logger('ClientAddress');

/** How often proxy host names (e.g. `tasks.caddy` in a swarm) are resolved again. */
export const PROXY_REFRESH_MS = 30_000;

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack socket) is `192.0.2.1`. */
export function normalizeIp(ip: string): string {
	const v = ip.trim();
	return v.startsWith('::ffff:') && isIP(v.slice(7)) === 4 ? v.slice(7) : v;
}

/**
 * The proxies whose `X-Forwarded-For` is believed (SFU_TRUSTED_PROXIES): IP addresses, CIDR
 * ranges and host names (resolved now and every 30 s, for proxies whose address changes).
 */
export class TrustedProxies {
	readonly #static = new BlockList();
	readonly #names: string[];
	#resolved = new Set<string>();
	#timer: NodeJS.Timeout | undefined;

	private constructor(entries: readonly string[]) {
		const names: string[] = [];
		for (const entry of entries) {
			const [net, bits] = entry.split('/') as [string, string | undefined];
			const family = isIP(net);
			if (family === 0) {
				names.push(entry);
			} else if (bits === undefined) {
				this.#static.addAddress(net, family === 4 ? 'ipv4' : 'ipv6');
			} else {
				this.#static.addSubnet(net, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
			}
		}
		this.#names = names;
	}

	static async create(entries: readonly string[]): Promise<TrustedProxies> {
		const proxies = new TrustedProxies(entries);
		if (proxies.#names.length > 0) {
			await proxies.#resolve();
			proxies.#timer = setInterval(() => void proxies.#resolve(), PROXY_REFRESH_MS);
			proxies.#timer.unref();
		}
		return proxies;
	}

	has(ip: string): boolean {
		const family = isIP(ip);
		if (family === 0) return false;
		return this.#resolved.has(ip) || this.#static.check(ip, family === 4 ? 'ipv4' : 'ipv6');
	}

	async #resolve(): Promise<void> {
		const next = new Set<string>();
		for (const name of this.#names) {
			try {
				for (const { address } of await lookup(name, { all: true })) next.add(normalizeIp(address));
			} catch (err) {
				log.warn('cannot resolve trusted proxy %s: %s', name, String(err));
			}
		}
		this.#resolved = next;
	}

	stop(): void {
		clearInterval(this.#timer);
	}
}

/**
 * The client's address: the socket's peer, unless that is a trusted proxy — then the rightmost
 * `X-Forwarded-For` entry that is not itself a trusted proxy (what the proxy nearest to us saw;
 * entries further left are whatever the client chose to send). A malformed entry stops the walk.
 */
export function clientAddress(req: http.IncomingMessage, proxies: TrustedProxies): string {
	let address = normalizeIp(req.socket.remoteAddress ?? '');
	if (!proxies.has(address)) return address;
	const header = req.headers['x-forwarded-for'];
	const chain = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
	for (let i = chain.length - 1; i >= 0; i--) {
		const hop = normalizeIp(chain[i] ?? '');
		if (isIP(hop) === 0) break;
		address = hop;
		if (!proxies.has(hop)) break;
	}
	return address;
}
