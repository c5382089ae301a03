import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import type { types } from 'mediasoup';

import { Logger } from './logger.js';
import type { EventSink, ProducerStream } from './SfuEvents.js';

const log = new Logger('GatewayForwarder');

export type GatewayForwarderOptions = Readonly<{
	room: string;
	listenIp: string;
	announcedAddress: string | undefined;
	portRange: Readonly<{ min: number; max: number }>;
	gatewayHost: string;
	gatewayPort: number;
	events: EventSink;
}>;

/**
 * Sends every audio producer of one room to the caption gateway: one PlainTransport per
 * router (RTP over UDP, rtcp-mux, no comedia) connected to the gateway's address, and
 * one consumer on it per audio producer. The gateway tells the streams apart by SSRC;
 * each consumer's SSRC is announced on the `sfu:events` stream (open/pause/resume/close).
 */
export class GatewayForwarder {
	readonly #transport: types.PlainTransport;
	readonly #router: types.Router;
	readonly #options: GatewayForwarderOptions;
	readonly #streams = new Map<string, { consumer: types.Consumer; stream: ProducerStream }>();
	#closed = false;

	private constructor(router: types.Router, transport: types.PlainTransport, options: GatewayForwarderOptions) {
		this.#router = router;
		this.#transport = transport;
		this.#options = options;
	}

	static async create(router: types.Router, options: GatewayForwarderOptions): Promise<GatewayForwarder> {
		const transport = await router.createPlainTransport({
			listenInfo: {
				protocol: 'udp',
				ip: options.listenIp,
				...(options.announcedAddress ? { announcedAddress: options.announcedAddress } : {}),
				portRange: { min: options.portRange.min, max: options.portRange.max },
			},
			rtcpMux: true,
			comedia: false,
			appData: { role: 'gateway' },
		});
		let ip: string;
		try {
			ip = await resolveHost(options.gatewayHost, options.listenIp);
			await transport.connect({ ip, port: options.gatewayPort });
		} catch (error) {
			transport.close();
			throw error;
		}
		log.info(
			'gateway transport ready [room:%s, local:%s:%d, gateway:%s (%s):%d]',
			options.room,
			transport.tuple.localAddress,
			transport.tuple.localPort,
			options.gatewayHost,
			ip,
			options.gatewayPort,
		);
		return new GatewayForwarder(router, transport, options);
	}

	/** Starts forwarding an audio producer; returns what was announced to the gateway. */
	async forward(peer: Readonly<{ id: string; name: string }>, producer: types.Producer): Promise<ProducerStream> {
		if (producer.kind !== 'audio') throw new TypeError('only audio producers go to the gateway');
		const consumer = await this.#transport.consume({
			producerId: producer.id,
			rtpCapabilities: this.#router.rtpCapabilities,
			appData: { role: 'gateway', peerId: peer.id },
		});
		const codec = consumer.rtpParameters.codecs[0];
		const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
		if (codec === undefined || ssrc === undefined) {
			consumer.close();
			throw new Error(`gateway consumer has no codec or SSRC [producer:${producer.id}]`);
		}
		const stream: ProducerStream = {
			room: this.#options.room,
			peer: peer.id,
			name: peer.name,
			producer: producer.id,
			ssrc,
			pt: codec.payloadType,
			clockRate: codec.clockRate,
		};
		const { events } = this.#options;
		this.#streams.set(producer.id, { consumer, stream });
		events.publish('producer.open', stream);
		if (consumer.producerPaused) events.publish('producer.pause', stream);

		consumer.on('producerpause', () => events.publish('producer.pause', stream));
		consumer.on('producerresume', () => events.publish('producer.resume', stream));
		// Fires once however the consumer ends: producer closed, peer left, room closed.
		consumer.observer.once('close', () => {
			this.#streams.delete(producer.id);
			events.publish('producer.close', stream);
		});
		log.debug('forwarding [room:%s, peer:%s, producer:%s, ssrc:%d]', stream.room, peer.id, producer.id, ssrc);
		return stream;
	}

	/** What the gateway was told about a producer (undefined when not forwarded). */
	streamOf(producerId: string): ProducerStream | undefined {
		return this.#streams.get(producerId)?.stream;
	}

	get localPort(): number {
		return this.#transport.tuple.localPort;
	}

	/** Closes the transport; each forwarded stream is announced closed. Idempotent. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#transport.close();
	}
}

/**
 * mediasoup connects a PlainTransport to an IP address only; a deployment names the gateway by
 * host name (Swarm's DNS: `gateway`). Resolved when a room's transport is made, in the family of
 * the address the SFU listens on.
 */
async function resolveHost(host: string, listenIp: string): Promise<string> {
	if (isIP(host)) return host;
	const { address } = await lookup(host, { family: isIP(listenIp) === 6 ? 6 : 4 });
	return address;
}
