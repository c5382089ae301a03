import type { types } from 'mediasoup';

import { iceServersFor } from '../turn.js';
import { rtpCapabilities } from '../validate.js';
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
export const setRtpCapabilities: Handler = async ({ peer, settings }, data) => {
	peer.rtpCapabilities = rtpCapabilities(data['rtpCapabilities'], settings) as types.RtpCapabilities;
	return {};
};
