import { workerLockOptions } from './worker-lock-options';

describe('workerLockOptions', () => {
  it('defaults to BullMQ\'s 30 s and reads WORKER_LOCK_MS / WORKER_STALLED_INTERVAL_MS', () => {
    expect(workerLockOptions({})).toEqual({ lockDuration: 30000, stalledInterval: 30000 });
    expect(workerLockOptions({ WORKER_LOCK_MS: '4000', WORKER_STALLED_INTERVAL_MS: '1500' })).toEqual({ lockDuration: 4000, stalledInterval: 1500 });
  });

  it('refuses values that are not whole milliseconds in range, naming the variable', () => {
    expect(() => workerLockOptions({ WORKER_LOCK_MS: '5s' })).toThrow('WORKER_LOCK_MS must be an integer');
    expect(() => workerLockOptions({ WORKER_STALLED_INTERVAL_MS: '10' })).toThrow('WORKER_STALLED_INTERVAL_MS must be');
  });
});
