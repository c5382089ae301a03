import type { Peer } from '../Peer.js';
import type { Room } from '../Room.js';
import type { Settings } from '../settings.js';
import type { Data } from '../validate.js';

export type HandlerContext = Readonly<{ room: Room; peer: Peer; settings: Settings }>;

/** One signalling method: validates `data`, acts, returns the response's `data`. */
export type Handler = (ctx: HandlerContext, data: Data) => Promise<unknown>;
