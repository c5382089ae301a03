import type { types } from 'mediasoup';

import { badRequest } from '../errors.js';
import { reqObject } from '../validate.js';
import type { Handler } from './types.js';

export const getRouterRtpCapabilities: Handler = async ({ room }) => ({
	rtpCapabilities: room.router.rtpCapabilities,
});

/** The peer's device capabilities (mediasoup-client `device.rtpCapabilities`); needed to consume. */
export const setRtpCapabilities: Handler = async ({ peer }, data) => {
	const caps = reqObject<types.RtpCapabilities>(data, 'rtpCapabilities');
	if (caps.codecs !== undefined && !Array.isArray(caps.codecs)) {
		throw badRequest('rtpCapabilities.codecs must be an array');
	}
	peer.rtpCapabilities = caps;
	return {};
};
