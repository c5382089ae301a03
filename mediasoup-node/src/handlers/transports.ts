import type { types } from 'mediasoup';

import { forbidden, invalidState } from '../errors.js';
import { Logger } from '../logger.js';
import type { Peer } from '../Peer.js';
import type { Settings } from '../settings.js';
import { reqIp, reqObject, reqOneOf, reqPort } from '../validate.js';
import type { Handler } from './types.js';

const log = new Logger('transports');

export type TransportDirection = 'send' | 'recv' | 'ingest';

function checkTransportLimit(peer: Peer, settings: Settings): void {
	if (peer.transports.size >= settings.maxTransportsPerPeer) {
		throw invalidState(`at most ${settings.maxTransportsPerPeer} transports per peer`);
	}
}

function listenInfo(settings: Settings, protocol: 'udp' | 'tcp'): types.TransportListenInfo {
	return {
		protocol,
		ip: settings.listenIp,
		...(settings.announcedAddress ? { announcedAddress: settings.announcedAddress } : {}),
		portRange: { min: settings.rtcMinPort, max: settings.rtcMaxPort },
	};
}

/**
 * Closes a WebRTC transport that is not connected (ICE and DTLS) within `timeoutMs`, or whose
 * DTLS fails: a transport nobody uses holds worker memory and, before the WebRtcServer, a port.
 * The peer is told (`transportClosed`) and may make another.
 */
function closeUnlessConnected(peer: Peer, transport: types.WebRtcTransport, timeoutMs: number): void {
	const end = (reason: string): void => {
		clearTimeout(timer);
		if (transport.closed) return;
		log.info('closing transport [peer:%s, transport:%s]: %s', peer.id, transport.id, reason);
		transport.close();
		peer.notify('transportClosed', { transportId: transport.id, reason });
	};
	const timer = setTimeout(() => end(`not connected within ${timeoutMs} ms`), timeoutMs);
	timer.unref();
	transport.on('dtlsstatechange', (state) => {
		if (state === 'connected') clearTimeout(timer);
		else if (state === 'failed') end('DTLS failed');
	});
	transport.observer.once('close', () => clearTimeout(timer));
}

/**
 * `direction` is `send` (the peer produces) or `recv` (the peer consumes). Every transport
 * listens through the worker's WebRtcServer (one UDP and one TCP port per worker), so
 * transports never use up ports; one that does not connect in time is closed.
 */
export const createWebRtcTransport: Handler = async ({ room, peer, settings }, data) => {
	const direction = reqOneOf(data, 'direction', ['send', 'recv'] as const);
	if (direction === 'send' && !peer.canProduce) throw forbidden('listeners may not send media');
	checkTransportLimit(peer, settings);
	const transport = await room.router.createWebRtcTransport({
		webRtcServer: room.webRtcServer,
		enableUdp: true,
		enableTcp: true,
		preferUdp: true,
		initialAvailableOutgoingBitrate: 1_000_000,
		appData: { peerId: peer.id, direction },
	});
	if (peer.closed) {
		transport.close();
		throw invalidState('peer left');
	}
	peer.addTransport(transport);
	closeUnlessConnected(peer, transport, settings.transportConnectTimeoutMs);
	return {
		id: transport.id,
		iceParameters: transport.iceParameters,
		iceCandidates: transport.iceCandidates,
		dtlsParameters: transport.dtlsParameters,
	};
};

export const connectWebRtcTransport: Handler = async ({ peer }, data) => {
	const transport = peer.transport(data['transportId']);
	const dtlsParameters = reqObject<types.DtlsParameters>(data, 'dtlsParameters');
	await transport.connect({ dtlsParameters });
	return {};
};

export const restartIce: Handler = async ({ peer }, data) => {
	const transport = peer.transport(data['transportId']) as types.WebRtcTransport;
	if (transport.type !== 'webrtc') throw invalidState('not a WebRTC transport');
	return { iceParameters: await transport.restartIce() };
};

/**
 * RTP ingest over a PlainTransport, for bots and tools that speak plain RTP: off unless
 * SFU_ALLOW_PLAIN_INGEST is set, and only for the roles in SFU_PLAIN_INGEST_ROLES (host).
 * The sender names the address it sends from (`ip`, `port`): the transport takes RTP from
 * there only (no comedia, which would lock onto whoever sends the first packet). With
 * `direction: "recv"` (any role, same switch) it is a receive transport instead: `consume` on it
 * sends the producer's RTP to `ip:port` (the load generator's listeners).
 */
export const createPlainTransport: Handler = async ({ room, peer, settings }, data) => {
	if (!settings.allowPlainIngest) throw forbidden('plain RTP ingest is disabled on this SFU');
	// `direction: "recv"`: the load generator's listeners consume over plain RTP (`consume` as on a
	// WebRTC recv transport), so SFU forwarding is under load without a WebRTC stack per listener.
	const direction: TransportDirection = data['direction'] === 'recv' ? 'recv' : 'ingest';
	if (direction === 'ingest' && !settings.plainIngestRoles.includes(peer.role)) {
		throw forbidden(`plain RTP ingest is for ${settings.plainIngestRoles.join(', ')} tokens only`);
	}
	const source = { ip: reqIp(data, 'ip'), port: reqPort(data, 'port') };
	checkTransportLimit(peer, settings);
	const transport = await room.router.createPlainTransport({
		listenInfo: listenInfo(settings, 'udp'),
		rtcpMux: true,
		comedia: false,
		appData: { peerId: peer.id, direction },
	});
	try {
		await transport.connect(source);
	} catch (error) {
		transport.close();
		throw error;
	}
	if (peer.closed) {
		transport.close();
		throw invalidState('peer left');
	}
	peer.addTransport(transport);
	return { id: transport.id, ip: transport.tuple.localAddress, port: transport.tuple.localPort };
};
