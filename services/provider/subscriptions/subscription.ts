/** The part of a sink the index needs: whether it is still live. */
export interface SubscriptionOwner {
  readonly closed: boolean;
}

/** One registered subscription. Kept small: there may be millions. */
export interface Subscription<O extends SubscriptionOwner = SubscriptionOwner> {
  readonly id: string;
  readonly owner: O;
  readonly pattern: string;
  /** Exact attribute matches as flat [key, value, key, value…], or null for none. */
  readonly attributes: readonly string[] | null;
}

/** The attributes a subscription may match, read off an event without copying it. */
export interface EventAttributes {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly dataContentType: string;
  readonly extensions: Readonly<Record<string, string>>;
}

export function attributeOf(event: EventAttributes, key: string): string | undefined {
  switch (key) {
    case 'id':
      return event.id;
    case 'source':
      return event.source;
    case 'type':
      return event.type;
    case 'data_content_type':
    case 'datacontenttype':
      return event.dataContentType;
    default:
      return Object.prototype.hasOwnProperty.call(event.extensions, key) ? event.extensions[key] : undefined;
  }
}

export function attributesMatch(attributes: readonly string[] | null, event: EventAttributes): boolean {
  if (attributes === null) return true;
  for (let i = 0; i < attributes.length; i += 2) {
    if (attributeOf(event, attributes[i]) !== attributes[i + 1]) return false;
  }
  return true;
}
