import { Module } from '@nestjs/common';
import { ModelStatsController } from './model-stats.controller';
import { ModelStatsService } from './model-stats.service';
import { PredictionRepository } from './prediction.repository';

/** The API's view of ai_predictions: per-version statistics and the predictions each version made. */
@Module({
  controllers: [ModelStatsController],
  providers: [ModelStatsService, PredictionRepository],
})
export class ModelStatsModule {}
