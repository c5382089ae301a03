import { format } from 'node:util';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: number = ORDER.info;

export function setLogLevel(level: LogLevel): void {
	threshold = ORDER[level];
}

/**
 * One line per event on stderr: `<iso time> <LEVEL> <name> <message>`; messages carry
 * their context in brackets, e.g. `new peer [room:%s, peer:%s]`.
 */
export class Logger {
	readonly #name: string;

	constructor(name: string) {
		this.#name = name;
	}

	debug(msg: string, ...args: unknown[]): void {
		this.#write('debug', msg, args);
	}

	info(msg: string, ...args: unknown[]): void {
		this.#write('info', msg, args);
	}

	warn(msg: string, ...args: unknown[]): void {
		this.#write('warn', msg, args);
	}

	error(msg: string, ...args: unknown[]): void {
		this.#write('error', msg, args);
	}

	#write(level: LogLevel, msg: string, args: unknown[]): void {
		if (ORDER[level] < threshold) return;
		process.stderr.write(
			`${new Date().toISOString()} ${level.toUpperCase()} ${this.#name} ${format(msg, ...args)}\n`,
		);
	}
}
