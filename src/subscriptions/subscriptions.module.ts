import { Module } from '@nestjs/common';
import { FhirStoreModule } from '../fhir/fhir-store.module';
import { SubscriptionMatcher } from './subscription-matcher.service';
import { SubscriptionRule } from './subscription.rule';

/**
 * FHIR R4 Subscriptions, the part every process needs: the check of a Subscription on the write
 * path, and which Subscriptions a change matches. Delivery runs in the workers
 * (SubscriptionDelivery), websocket clients are served by the API (SubscriptionSockets).
 */
@Module({
  imports: [FhirStoreModule],
  providers: [SubscriptionRule, SubscriptionMatcher],
  exports: [SubscriptionMatcher],
})
export class SubscriptionsModule {}
