/** Error codes a client can see in `{ ok: false, error: { code, message } }`. */
export type ErrorCode =
	| 'BAD_REQUEST'
	| 'UNAUTHORIZED'
	| 'FORBIDDEN'
	| 'NOT_FOUND'
	| 'INVALID_STATE'
	| 'RATE_LIMITED'
	| 'INTERNAL';

/** WebSocket close codes this server uses (4000-4999 are the application's; docs/signalling.md). */
export const CLOSE = {
	left: 1000,
	shutdown: 1001,
	flood: 1008,
	tooLarge: 1009,
	unauthorized: 4401,
	removed: 4403,
	joinTimeout: 4408,
	replaced: 4409,
	roomClosed: 4410,
	roomFull: 4429,
} as const;

/** An error whose message is safe to send to the client; `closeCode`: the socket is then closed with it. */
export class RequestError extends Error {
	override name = 'RequestError';
	readonly code: ErrorCode;
	readonly closeCode: number | undefined;

	constructor(code: ErrorCode, message: string, closeCode?: number) {
		super(message);
		this.code = code;
		this.closeCode = closeCode;
	}
}

export const badRequest = (message: string): RequestError => new RequestError('BAD_REQUEST', message);
export const unauthorized = (message: string): RequestError =>
	new RequestError('UNAUTHORIZED', message, CLOSE.unauthorized);
export const forbidden = (message: string): RequestError => new RequestError('FORBIDDEN', message);
export const notFound = (message: string): RequestError => new RequestError('NOT_FOUND', message);
export const invalidState = (message: string): RequestError => new RequestError('INVALID_STATE', message);

/**
 * Maps any thrown value to what the client sees. mediasoup's own TypeError (bad
 * parameters) and UnsupportedError become BAD_REQUEST with mediasoup's message; anything
 * else is INTERNAL with a generic message (the details go to the log only).
 */
export function toClientError(err: unknown): { code: ErrorCode; message: string; internal: boolean; closeCode?: number } {
	if (err instanceof RequestError) {
		return { code: err.code, message: err.message, internal: false, ...(err.closeCode ? { closeCode: err.closeCode } : {}) };
	}
	if (err instanceof TypeError || (err instanceof Error && err.name === 'UnsupportedError')) {
		return { code: 'BAD_REQUEST', message: err.message, internal: false };
	}
	if (err instanceof Error && err.name === 'InvalidStateError') {
		return { code: 'INVALID_STATE', message: err.message, internal: false };
	}
	return { code: 'INTERNAL', message: 'internal error', internal: true };
}
