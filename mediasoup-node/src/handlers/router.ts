import type { types } from 'mediasoup';

import { badRequest } from '../errors.js';
import { iceServersFor } from '../turn.js';
import { reqObject } from '../validate.js';
import type { Handler } from './types.js';

export const getRouterRtpCapabilities: Handler = async ({ room }) => ({
	rtpCapabilities: room.router.rtpCapabilities,
});

/**
 * Fresh TURN credentials (they expire after TURN_CREDENTIAL_TTL_S): a client asks before they do,
 * hands them to its transports and restarts ICE, so its relays are re-allocated under them.
 */
export const getIceServers: Handler = async ({ peer, settings }) => iceServersFor(settings.turn, peer.id);

/** The peer's device capabilities (mediasoup-client `device.rtpCapabilities`); needed to consume. */
export const setRtpCapabilities: Handler = async ({ peer }, data) => {
	const caps = reqObject<types.RtpCapabilities>(data, 'rtpCapabilities');
	if (caps.codecs !== undefined && !Array.isArray(caps.codecs)) {
		throw badRequest('rtpCapabilities.codecs must be an array');
	}
	peer.rtpCapabilities = caps;
	return {};
};
