import { LoginThrottle } from './login-throttle';

describe('LoginThrottle', () => {
  it('locks a client id out after maxFailures failures within the window, for the window, and that id only', () => {
    const th = new LoginThrottle(3, 60_000);
    const t0 = 1_000_000;
    for (let i = 0; i < 2; i++) th.failed('admin', t0 + i);
    expect(th.retryAfter('admin', t0 + 10)).toBe(0);
    th.failed('admin', t0 + 1000);
    expect(th.retryAfter('admin', t0 + 1000)).toBe(60);
    expect(th.retryAfter('admin', t0 + 31_000)).toBe(30);
    expect(th.retryAfter('other', t0 + 1000)).toBe(0);
    expect(th.retryAfter('admin', t0 + 61_000)).toBe(0);
  });

  it('forgets failures older than the window, and clears the count on a success', () => {
    const th = new LoginThrottle(3, 60_000);
    th.failed('a', 0);
    th.failed('a', 1);
    th.failed('a', 60_001); // the first window ended: a new count starts
    expect(th.retryAfter('a', 60_002)).toBe(0);
    th.failed('b', 0);
    th.failed('b', 1);
    th.succeeded('b');
    th.failed('b', 2);
    expect(th.retryAfter('b', 3)).toBe(0);
  });

  it('is off with maxFailures 0', () => {
    const th = new LoginThrottle(0, 60_000);
    for (let i = 0; i < 100; i++) th.failed('a', i);
    expect(th.retryAfter('a', 100)).toBe(0);
  });
});
