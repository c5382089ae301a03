import type { types } from 'mediasoup';

import { forbidden, invalidState } from '../errors.js';
import { optObject, reqOneOf, rtpParameters } from '../validate.js';
import type { Handler } from './types.js';

/** Produce on the peer's send (or ingest) transport. Listeners may not produce. */
export const produce: Handler = async ({ room, peer, settings }, data) => {
	if (!peer.canProduce) throw forbidden('listeners may not produce');
	const transport = peer.transport(data['transportId']);
	const direction = (transport.appData as { direction?: string }).direction;
	if (direction !== 'send' && direction !== 'ingest') throw invalidState('produce needs a send transport');
	if (peer.producers.size >= settings.maxProducersPerPeer) {
		throw invalidState(`at most ${settings.maxProducersPerPeer} producers per peer`);
	}
	const kind = reqOneOf(data, 'kind', ['audio', 'video'] as const);
	const audio = [...peer.producers.values()].filter((p) => p.kind === 'audio').length;
	if (kind === 'audio' && audio >= settings.maxAudioProducersPerPeer) {
		throw invalidState(`at most ${settings.maxAudioProducersPerPeer} audio producer(s) per peer`);
	}
	const params = rtpParameters(data['rtpParameters'], settings) as types.RtpParameters;
	peer.spendProducerOp();
	const appData = optObject(data, 'appData') ?? {};
	// A host mute sticks: the peer's new audio starts paused (and it is told why).
	const hostMuted = kind === 'audio' && peer.hostMuted;
	const producer = await transport.produce({
		kind,
		rtpParameters: params,
		paused: data['paused'] === true || hostMuted,
		appData: { ...appData, peerId: peer.id },
	});
	try {
		await room.addProducer(peer, producer);
	} catch (error) {
		producer.close();
		throw error;
	}
	if (hostMuted) peer.notify('mutedByHost', { by: '' });
	return { producerId: producer.id, paused: producer.paused };
};

export const closeProducer: Handler = async ({ peer }, data) => {
	peer.producer(data['producerId']).close();
	return {};
};

export const pauseProducer: Handler = async ({ peer }, data) => {
	const producer = peer.producer(data['producerId']);
	peer.spendProducerOp();
	await producer.pause();
	return {};
};

/** Refused for audio while a host has the peer muted (until a host unmutes: `sfu:commands` unmute). */
export const resumeProducer: Handler = async ({ peer }, data) => {
	const producer = peer.producer(data['producerId']);
	if (producer.kind === 'audio' && peer.hostMuted) throw forbidden('muted by the host');
	peer.spendProducerOp();
	await producer.resume();
	return {};
};
