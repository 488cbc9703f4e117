/** One notification: a Subscription told about one version of one resource. */
export interface SubscriptionNotification {
  subscriptionId: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
}

/** Deterministic: one delivery per Subscription and resource version, however often the event is redelivered. */
export function notificationJobId(n: SubscriptionNotification): string {
  return `notify/${n.subscriptionId}/${n.resourceType}/${n.resourceId}/_history/${n.versionId}`;
}

/** The Redis channel on which workers hand websocket notifications to the API processes. */
export function websocketChannel(bullPrefix: string): string {
  return `${bullPrefix}:subscription-websocket`;
}
