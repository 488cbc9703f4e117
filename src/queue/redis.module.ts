import { Global, Module } from '@nestjs/common';
import { REDIS, RedisShutdown, redisProvider } from './redis.provider';

/** The API process's Redis connection (REDIS), for every module: queues, metrics, the shared sign-in throttle and rate limits. */
@Global()
@Module({
  providers: [redisProvider, RedisShutdown],
  exports: [REDIS],
})
export class RedisModule {}
