interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit (task creates, check outcomes): the items that arrive while the previous
 * group is being written go together in the next one, one commit for many, and each gets
 * its own answer. When a group fails (one item is refused: a balance short of its hold, a
 * limit reached), the others must not fail with it: each is written again on its own, one
 * after another. At most `groups` groups are written at once.
 */
export class WriteBatcher<Item, Result = void> {
  #waiting: Waiting<Item, Result>[] = [];
  #writing = 0;
  #scheduled = false;

  constructor(
    /** Writes the items in one transaction: their answers, in their order. */
    private readonly together: (items: Item[]) => Promise<Result[]>,
    /** Writes one item in a transaction of its own. */
    private readonly alone: (item: Item) => Promise<Result>,
    private readonly groups = 1,
    /**
     * Items in one group at most: a group written as one statement that commits as it runs
     * must fit in one, or a later statement's failure would send items already saved to be
     * written again alone (and refused).
     */
    private readonly most = Infinity,
  ) {}

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
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
    const group = this.#waiting.splice(0, this.most);
    this.#writing++;
    // What did not fit goes in the next group, at once if another may be written.
    this.#schedule();
    try {
      const answers = group.length > 1 ? await this.together(group.map(({ item }) => item)).catch(() => null) : null;
      if (answers) group.forEach(({ resolve }, index) => resolve(answers[index] as Result));
      // One after another: items of one group often share a row (a key's balance), and
      // transactions racing on it would only conflict and be run again.
      else for (const { item, resolve, reject } of group) await this.alone(item).then(resolve, reject);
    } finally {
      this.#writing--;
      this.#schedule();
    }
  }
}
