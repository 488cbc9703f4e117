import { Queue, RedisConnection } from 'bullmq';
import { createRedis } from './redis.provider';

describe('closed BullMQ connections', () => {
  it('keep a listener, so that a start-up failure reported after close() is not an uncaught error', async () => {
    const redis = createRedis('redis://127.0.0.1:6390'); // nothing listens there: Redis is down
    redis.on('error', () => undefined);
    const queue = new Queue('closed-connection-spec', { connection: redis });
    queue.on('error', () => undefined);
    await queue.close();
    const connection = (queue as unknown as { connection: RedisConnection }).connection;
    expect(connection).toBeInstanceOf(RedisConnection);
    // What BullMQ's own `initializing.catch(err => this.emit('error', err))` does when start-up fails late.
    expect(() => connection.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6390'))).not.toThrow();
    redis.disconnect();
  });
});
