import { Logger, setLogLevel } from './logger.js';
import { loadSettings, SettingsError } from './settings.js';
import { Sfu } from './Sfu.js';

const log = new Logger('main');

async function main(): Promise<void> {
	let settings;
	try {
		settings = loadSettings();
	} catch (error) {
		if (error instanceof SettingsError) {
			log.error('bad settings: %s', error.message);
			process.exit(2);
		}
		throw error;
	}
	setLogLevel(settings.logLevel);
	const sfu = await Sfu.start(settings);
	log.info(
		'SFU up [workers:%d, listenIp:%s, announced:%s, rtc ports:%d-%d, ingest:%s]',
		sfu.pool.size,
		settings.listenIp,
		settings.announcedAddress ?? '-',
		settings.rtcMinPort,
		settings.rtcMaxPort,
		settings.ingestTargets.map((t) => `${t.host}:${t.port}`).join(','),
	);
	const stop = (signal: string): void => {
		log.info('%s received, shutting down', signal);
		sfu.close().then(
			() => process.exit(0),
			(err: unknown) => {
				log.error('shutdown failed: %s', String(err));
				process.exit(1);
			},
		);
	};
	process.once('SIGINT', () => stop('SIGINT'));
	process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
	log.error('SFU failed to start: %s', error instanceof Error ? (error.stack ?? error.message) : String(error));
	process.exit(1);
});
