/** Error codes a client can see in `{ ok: false, error: { code, message } }`. */
export type ErrorCode =
	| 'BAD_REQUEST'
	| 'UNAUTHORIZED'
	| 'FORBIDDEN'
	| 'NOT_FOUND'
	| 'INVALID_STATE'
	| 'INTERNAL';

/** An error whose message is safe to send to the client. */
export class RequestError extends Error {
	override name = 'RequestError';
	readonly code: ErrorCode;

	constructor(code: ErrorCode, message: string) {
		super(message);
		this.code = code;
	}
}

export const badRequest = (message: string): RequestError => new RequestError('BAD_REQUEST', message);
export const unauthorized = (message: string): RequestError => new RequestError('UNAUTHORIZED', message);
export const forbidden = (message: string): RequestError => new RequestError('FORBIDDEN', message);
export const notFound = (message: string): RequestError => new RequestError('NOT_FOUND', message);
export const invalidState = (message: string): RequestError => new RequestError('INVALID_STATE', message);

/**
 * Maps any thrown value to what the client sees. mediasoup's own TypeError (bad
 * parameters) and UnsupportedError become BAD_REQUEST with mediasoup's message; anything
 * else is INTERNAL with a generic message (the details go to the log only).
 */
export function toClientError(err: unknown): { code: ErrorCode; message: string; internal: boolean } {
	if (err instanceof RequestError) return { code: err.code, message: err.message, internal: false };
	if (err instanceof TypeError || (err instanceof Error && err.name === 'UnsupportedError')) {
		return { code: 'BAD_REQUEST', message: err.message, internal: false };
	}
	if (err instanceof Error && err.name === 'InvalidStateError') {
		return { code: 'INVALID_STATE', message: err.message, internal: false };
	}
	return { code: 'INTERNAL', message: 'internal error', internal: true };
}
