import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { WebSocketServer, type WebSocket } from 'ws';

import type { Admission } from './Admission.js';
import { clientAddress, TrustedProxies } from './ClientAddress.js';
import { Connection } from './Connection.js';
import { Logger } from './logger.js';
import type { RoomRegistry } from './RoomRegistry.js';
import type { Settings } from './settings.js';
import { SocketLimits } from './SocketLimits.js';

const log = new Logger('SignallingServer');

const PING_INTERVAL_MS = 30_000;

export type ServerStats = { errors: number; connections: number; refused: number; rateLimited: number };

/**
 * HTTP server with the signalling WebSocket on `/ws` (plain ws: run it behind a TLS
 * proxy outside localhost) plus `/healthz` and `/metrics` (Prometheus text format).
 */
export class SignallingServer {
	readonly #http: http.Server;
	readonly #wss: WebSocketServer;
	readonly #alive = new WeakMap<WebSocket, boolean>();
	readonly #ping: NodeJS.Timeout;
	readonly #proxies: TrustedProxies;
	readonly limits: SocketLimits;
	readonly stats: ServerStats = { errors: 0, connections: 0, refused: 0, rateLimited: 0 };

	private constructor(
		httpServer: http.Server,
		wss: WebSocketServer,
		ping: NodeJS.Timeout,
		proxies: TrustedProxies,
		limits: SocketLimits,
	) {
		this.#http = httpServer;
		this.#wss = wss;
		this.#ping = ping;
		this.#proxies = proxies;
		this.limits = limits;
	}

	static async start(
		settings: Settings,
		registry: RoomRegistry,
		admission: Admission,
		metrics: () => Promise<string>,
	): Promise<SignallingServer> {
		const httpServer = http.createServer((req, res) => {
			if (req.url === '/healthz') {
				res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, rooms: registry.size }));
			} else if (req.url === '/metrics') {
				metrics().then(
					(text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
					(error: unknown) => {
						log.error('metrics failed: %s', String(error));
						res.writeHead(500).end();
					},
				);
			} else {
				res.writeHead(404).end();
			}
		});
		const wss = new WebSocketServer({ noServer: true, maxPayload: settings.maxMessageBytes });
		const ping = setInterval(() => server.#heartbeat(), PING_INTERVAL_MS);
		ping.unref();
		const proxies = await TrustedProxies.create(settings.trustedProxies);
		const server = new SignallingServer(httpServer, wss, ping, proxies, new SocketLimits(settings));
		httpServer.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
			if (new URL(req.url ?? '/', 'http://x').pathname !== settings.wsPath) {
				refuse(socket, 404, 'not found');
				return;
			}
			const address = clientAddress(req, proxies);
			const ticket = server.limits.admit(address);
			if (typeof ticket === 'string') {
				server.stats.refused++;
				log.debug('socket refused [address:%s]: %s', address, ticket);
				refuse(socket, 429, ticket);
				return;
			}
			socket.once('close', ticket.release);
			wss.handleUpgrade(req, socket, head, (ws) => {
				server.stats.connections++;
				server.#alive.set(ws, true);
				ws.on('pong', () => server.#alive.set(ws, true));
				new Connection(ws, { registry, settings, admission, stats: server.stats, address, onJoined: ticket.joined });
			});
		});
		await new Promise<void>((resolve, reject) => {
			httpServer.once('error', reject);
			httpServer.listen(settings.wsPort, settings.wsHost, () => resolve());
		});
		log.info('signalling on ws://%s:%d%s', settings.wsHost, server.port, settings.wsPath);
		return server;
	}

	get port(): number {
		return (this.#http.address() as AddressInfo).port;
	}

	#heartbeat(): void {
		for (const ws of this.#wss.clients) {
			if (this.#alive.get(ws) === false) {
				ws.terminate();
				continue;
			}
			this.#alive.set(ws, false);
			ws.ping();
		}
	}

	async close(): Promise<void> {
		clearInterval(this.#ping);
		this.#proxies.stop();
		for (const ws of this.#wss.clients) ws.close(1001, 'server shutting down');
		await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
		const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
		this.#http.closeAllConnections();
		await closed;
	}
}

/** Answers an upgrade request with an HTTP error (before any WebSocket exists) and drops it. */
function refuse(socket: Socket, status: number, reason: string): void {
	const text = http.STATUS_CODES[status] ?? 'Error';
	socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
	socket.destroySoon?.();
}
