import { closeConsumer, consume, pauseConsumer, resumeConsumer } from './consumers.js';
import { closeProducer, pauseProducer, produce, resumeProducer } from './producers.js';
import { getIceServers, getRouterRtpCapabilities, setRtpCapabilities } from './router.js';
import { connectWebRtcTransport, createPlainTransport, createWebRtcTransport, restartIce } from './transports.js';
import type { Handler } from './types.js';

/** Every method a joined peer may call (join and leave are handled by the connection). */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
	['getRouterRtpCapabilities', getRouterRtpCapabilities],
	['getIceServers', getIceServers],
	['setRtpCapabilities', setRtpCapabilities],
	['createWebRtcTransport', createWebRtcTransport],
	['connectWebRtcTransport', connectWebRtcTransport],
	['restartIce', restartIce],
	['createPlainTransport', createPlainTransport],
	['produce', produce],
	['closeProducer', closeProducer],
	['pauseProducer', pauseProducer],
	['resumeProducer', resumeProducer],
	['consume', consume],
	['resumeConsumer', resumeConsumer],
	['pauseConsumer', pauseConsumer],
	['closeConsumer', closeConsumer],
]);

export type { Handler, HandlerContext } from './types.js';
