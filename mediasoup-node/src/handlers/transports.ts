import type { types } from 'mediasoup';

import { forbidden, invalidState } from '../errors.js';
import { MAX_TRANSPORTS_PER_PEER, type Peer } from '../Peer.js';
import type { Settings } from '../settings.js';
import { reqObject, reqOneOf } from '../validate.js';
import type { Handler } from './types.js';

export type TransportDirection = 'send' | 'recv' | 'ingest';

function checkTransportLimit(peer: Peer): void {
	if (peer.transports.size >= MAX_TRANSPORTS_PER_PEER) {
		throw invalidState(`at most ${MAX_TRANSPORTS_PER_PEER} transports per peer`);
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

/** `direction` is `send` (the peer produces) or `recv` (the peer consumes). */
export const createWebRtcTransport: Handler = async ({ room, peer, settings }, data) => {
	const direction = reqOneOf(data, 'direction', ['send', 'recv'] as const);
	if (direction === 'send' && !peer.canProduce) throw forbidden('listeners may not send media');
	checkTransportLimit(peer);
	const transport = await room.router.createWebRtcTransport({
		listenInfos: [listenInfo(settings, 'udp'), listenInfo(settings, 'tcp')],
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
 * RTP ingest over a PlainTransport (comedia: the SFU learns the sender's address from
 * its first packet), for bots and tools that speak plain RTP. Off unless
 * SFU_ALLOW_PLAIN_INGEST is set; never for listeners.
 */
export const createPlainTransport: Handler = async ({ room, peer, settings }) => {
	if (!settings.allowPlainIngest) throw forbidden('plain RTP ingest is disabled on this SFU');
	if (!peer.canProduce) throw forbidden('listeners may not send media');
	checkTransportLimit(peer);
	const transport = await room.router.createPlainTransport({
		listenInfo: listenInfo(settings, 'udp'),
		rtcpMux: true,
		comedia: true,
		appData: { peerId: peer.id, direction: 'ingest' satisfies TransportDirection },
	});
	if (peer.closed) {
		transport.close();
		throw invalidState('peer left');
	}
	peer.addTransport(transport);
	return { id: transport.id, ip: transport.tuple.localAddress, port: transport.tuple.localPort };
};
