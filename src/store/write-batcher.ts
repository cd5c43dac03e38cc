interface Waiting<Item> {
  item: Item;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for task creates: the items (tasks) that arrive while the previous group is
 * being written go together in the next one, one transaction and one commit for many. When
 * a group fails (one item is refused: a balance short of its hold, a limit reached), the
 * others must not fail with it: each is written again on its own. At most `groups` groups
 * are written at once.
 */
export class WriteBatcher<Item> {
  #waiting: Waiting<Item>[] = [];
  #writing = 0;
  #scheduled = false;

  constructor(
    /** Writes the items in one transaction. */
    private readonly together: (items: Item[]) => Promise<void>,
    /** Writes one item in a transaction of its own. */
    private readonly alone: (item: Item) => Promise<void>,
    private readonly groups = 1,
  ) {}

  add(item: Item): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** The next group starts on the next turn of the event loop: what arrives until then joins it. */
  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0 || this.#writing >= this.groups) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    const group = this.#waiting;
    this.#waiting = [];
    this.#writing++;
    try {
      const written = group.length > 1 && (await this.together(group.map(({ item }) => item)).then(() => true, () => false));
      if (written) for (const { resolve } of group) resolve();
      else await Promise.all(group.map(({ item, resolve, reject }) => this.alone(item).then(resolve, reject)));
    } finally {
      this.#writing--;
      this.#schedule();
    }
  }
}
