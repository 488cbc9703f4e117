import { Global, Module, type DynamicModule } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { KeyRing } from '../crypto/key-ring';
import { DatabaseService } from '../database/database.service';
import { mikroOrmConfig } from '../database/mikro-orm.config';
import { APP_CONFIG } from './tokens';

export const LOGGER = Symbol('LOGGER');

/** What the API and the workers share: configuration, keys, the database, the logger. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: CoreModule,
      imports: [MikroOrmModule.forRoot({ ...mikroOrmConfig(config), registerRequestContext: false })],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: KeyRing, useValue: new KeyRing(config.encryptionKeys, config.blindIndexKey) },
        DatabaseService,
      ],
      exports: [APP_CONFIG, LOGGER, KeyRing, DatabaseService],
    };
  }
}
