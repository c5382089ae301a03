import { badRequest, invalidState, notFound } from '../errors.js';
import { reqString } from '../validate.js';
import type { Handler } from './types.js';

/**
 * Consume another peer's producer on the peer's recv transport. The consumer starts
 * paused; the client calls resumeConsumer once its side is ready (no lost keyframe).
 */
export const consume: Handler = async ({ room, peer, settings }, data) => {
	const transport = peer.transport(data['transportId']);
	if ((transport.appData as { direction?: string }).direction !== 'recv') {
		throw invalidState('consume needs a recv transport');
	}
	if (peer.rtpCapabilities === undefined) throw invalidState('call setRtpCapabilities first');
	if (peer.consumers.size >= settings.maxConsumersPerPeer) {
		throw invalidState(`at most ${settings.maxConsumersPerPeer} consumers per peer`);
	}
	const producerId = reqString(data, 'producerId');
	const found = room.findProducer(producerId);
	if (found === undefined) throw notFound(`producer not found: ${producerId}`);
	if (found.owner === peer) throw badRequest('cannot consume your own producer');
	// One consumer per producer: more would only multiply the same stream (and the worker's work).
	for (const c of peer.consumers.values()) {
		if (c.producerId === producerId) throw invalidState(`already consuming producer ${producerId}`);
	}
	if (!room.router.canConsume({ producerId, rtpCapabilities: peer.rtpCapabilities })) {
		throw badRequest('your rtpCapabilities cannot consume this producer');
	}
	const consumer = await transport.consume({
		producerId,
		rtpCapabilities: peer.rtpCapabilities,
		paused: true,
		appData: { peerId: peer.id },
	});
	peer.addConsumer(consumer);
	consumer.on('producerclose', () =>
		peer.notify('consumerClosed', { consumerId: consumer.id, producerId }),
	);
	consumer.on('producerpause', () => peer.notify('consumerPaused', { consumerId: consumer.id, producerId }));
	consumer.on('producerresume', () => peer.notify('consumerResumed', { consumerId: consumer.id, producerId }));
	return {
		consumerId: consumer.id,
		producerId,
		peerId: found.owner.id,
		kind: consumer.kind,
		rtpParameters: consumer.rtpParameters,
		type: consumer.type,
		producerPaused: consumer.producerPaused,
	};
};

export const resumeConsumer: Handler = async ({ peer }, data) => {
	await peer.consumer(data['consumerId']).resume();
	return {};
};

export const pauseConsumer: Handler = async ({ peer }, data) => {
	await peer.consumer(data['consumerId']).pause();
	return {};
};

export const closeConsumer: Handler = async ({ peer }, data) => {
	peer.consumer(data['consumerId']).close();
	return {};
};
