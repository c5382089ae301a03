import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { types } from 'mediasoup';

import { startSfu, TestClient } from './helpers.js';

const noEvents = { publish(): void {}, async close(): Promise<void> {} };

test('rooms are spread across workers', async () => {
	const sfu = await startSfu({ SFU_NUM_WORKERS: '2' }, { events: noEvents });
	try {
		const a = await TestClient.join(sfu, { room: 'spread-a', sub: 'a' });
		const b = await TestClient.join(sfu, { room: 'spread-b', sub: 'b' });
		assert.deepEqual(sfu.pool.roomsPerWorker(), [1, 1]);
		assert.notEqual(sfu.registry.get('spread-a')?.worker.pid, sfu.registry.get('spread-b')?.worker.pid);
		a.close();
		b.close();
	} finally {
		await sfu.close();
	}
});

test('a dead worker is reported (main.ts exits the process on it)', async () => {
	let died: types.Worker | undefined;
	const sfu = await startSfu({}, { events: noEvents, onWorkerDied: (w) => (died = w) });
	try {
		const c = await TestClient.join(sfu, { room: 'doomed', sub: 'a' });
		const pid = sfu.registry.get('doomed')?.worker.pid;
		assert.ok(pid);
		process.kill(pid, 'SIGKILL');
		for (let i = 0; i < 100 && !died; i++) await new Promise((r) => setTimeout(r, 20));
		assert.equal(died?.pid, pid);
		c.close();
	} finally {
		await sfu.close();
	}
});
