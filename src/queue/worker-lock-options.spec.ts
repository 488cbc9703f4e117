import { workerLockOptions } from './worker-lock-options';

describe('workerLockOptions', () => {
  it('defaults to BullMQ\'s and reads WORKER_LOCK_MS, WORKER_STALLED_INTERVAL_MS and WORKER_RETRY_MS', () => {
    expect(workerLockOptions({})).toEqual({ lockDuration: 30000, stalledInterval: 30000, runRetryDelay: 15000 });
    expect(workerLockOptions({ WORKER_LOCK_MS: '4000', WORKER_STALLED_INTERVAL_MS: '1500', WORKER_RETRY_MS: '1000' })).toEqual({
      lockDuration: 4000,
      stalledInterval: 1500,
      runRetryDelay: 1000,
    });
  });

  it('refuses values that are not whole milliseconds in range, naming the variable', () => {
    expect(() => workerLockOptions({ WORKER_LOCK_MS: '5s' })).toThrow('WORKER_LOCK_MS must be an integer');
    expect(() => workerLockOptions({ WORKER_STALLED_INTERVAL_MS: '10' })).toThrow('WORKER_STALLED_INTERVAL_MS must be');
    expect(() => workerLockOptions({ WORKER_RETRY_MS: '-1' })).toThrow('WORKER_RETRY_MS must be');
  });
});
