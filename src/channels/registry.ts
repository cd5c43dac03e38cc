import type { Channel } from './channel.ts';

/** The configured channels, and in which order to try them for a model. */
export class Channels {
  private readonly byModel = new Map<string, Channel[]>();
  private readonly named = new Map<string, Channel>();

  constructor(
    channels: readonly Channel[],
    private readonly random: () => number = Math.random,
  ) {
    for (const channel of channels) {
      this.named.set(channel.name, channel);
      for (const model of channel.models.keys()) this.byModel.set(model, [...(this.byModel.get(model) ?? []), channel]);
    }
  }

  /** True when some channel serves the model (else the preview renderer does). */
  serves(model: string): boolean {
    return this.byModel.has(model);
  }

  byName(name: string): Channel | undefined {
    return this.named.get(name);
  }

  all(): Channel[] {
    return [...this.named.values()];
  }

  /** Every channel of the model, for checks made before anything is sent (what each can do). */
  candidates(model: string): readonly Channel[] {
    return this.byModel.get(model) ?? [];
  }

  /**
   * The channels to try for a new task, in order: higher priority first; within a priority
   * a weighted random order, so that traffic splits by weight; resting channels left out.
   */
  route(model: string): Channel[] {
    const open = (this.byModel.get(model) ?? []).filter((channel) => channel.breaker.available());
    const priorities = [...new Set(open.map((channel) => channel.priority))].sort((a, b) => b - a);
    return priorities.flatMap((priority) => this.weightedOrder(open.filter((channel) => channel.priority === priority)));
  }

  private weightedOrder(channels: Channel[]): Channel[] {
    const left = [...channels];
    const order: Channel[] = [];
    while (left.length > 0) {
      const total = left.reduce((sum, channel) => sum + channel.weight, 0);
      let pick = this.random() * total;
      const index = Math.max(0, left.findIndex((channel) => (pick -= channel.weight) < 0));
      order.push(left.splice(index, 1)[0]!);
    }
    return order;
  }
}
